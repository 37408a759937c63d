import copy
import subprocess

import mmcv
import pytest
import torch
from helpers import ROOT, TINY_CONFIG, random_checkpoint

from bpr.apis import DEFAULT_CONFIG, init_refiner
from bpr.apis.recalibrate import (_test_time_view, recalibrate_bn, recalibrated_state,
                                  statistics_patches)


def test_test_time_view_drops_the_random_changes():
    pipeline = mmcv.Config.fromfile(DEFAULT_CONFIG).data.train.pipeline
    view = _test_time_view(pipeline)
    types = [t['type'] for t in pipeline]
    assert 'PhotoMetricDistortion' in types and pipeline[types.index('RandomFlip')]['prob'] > 0
    assert [t['type'] for t in view] == [t for t in types if t != 'PhotoMetricDistortion']
    assert [t['prob'] for t in view if t['type'] == 'RandomFlip'] == [0.0]


def test_recalibrate_bn_gives_the_statistics_of_the_data(patches):
    torch.manual_seed(0)
    model = init_refiner(TINY_CONFIG, 'none', 'cpu', fuse=False)
    weights = {k: v.clone() for k, v in model.state_dict().items() if 'running' not in k}
    dataset = statistics_patches(mmcv.Config.fromfile(TINY_CONFIG), patches)
    assert len(dataset) >= 32
    inputs = []
    hook = model.backbone.norm1.register_forward_pre_hook(lambda m, x: inputs.append(x[0]))
    before = copy.deepcopy(model.backbone.layer1[0].bn1.state_dict())
    # four batches of 8: the running mean is the data's mean, the running variance the mean
    # of the batches' variances (a cumulative average over batches)
    assert recalibrate_bn(model, dataset, num_patches=32, batch_size=8, workers=0) == 32
    hook.remove()
    assert [len(x) for x in inputs] == [8] * 4
    x = torch.stack(inputs).transpose(1, 2).flatten(2).double()  # batch, channel, values
    var = x.var(2).mean(0)
    bn = model.backbone.norm1
    assert torch.allclose(bn.running_mean.double(), x.mean((0, 2)), rtol=1e-4, atol=1e-5)
    assert torch.allclose(bn.running_var.double(), var, rtol=1e-3, atol=1e-5)
    assert bn.momentum == 0.1 and not model.training
    deeper = model.backbone.layer1[0].bn1
    assert not torch.allclose(deeper.running_mean, before['running_mean'])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items()
               if 'num_batches' not in k)
    # a subset in several batches, drawn with a fixed seed: the same result twice
    first = recalibrated_state(model.state_dict(), patches, TINY_CONFIG, num_patches=6)
    second = recalibrated_state(model.state_dict(), patches, TINY_CONFIG, num_patches=6)
    assert first[1] == 6
    assert all(torch.equal(first[0][k], second[0][k]) for k in first[0])
    assert not torch.equal(first[0]['backbone.bn1.running_mean'], bn.running_mean)


def test_recalibrated_state_keeps_keys_and_dtypes_and_names_a_missing_folder(patches, tmp_path):
    from bpr.core.io import InputError
    path = random_checkpoint(str(tmp_path / 'a.pth'))
    state = {k: v.half() if v.is_floating_point() else v
             for k, v in torch.load(path, weights_only=True)['state_dict'].items()}
    new, used = recalibrated_state(state, patches, TINY_CONFIG, num_patches=4)
    assert used == 4 and new.keys() == state.keys()
    assert all(new[k].dtype == v.dtype for k, v in state.items())
    with pytest.raises(InputError, match=f'{tmp_path}/img_dir/train: no such folder'):
        recalibrated_state(state, str(tmp_path), TINY_CONFIG)


def test_statistics_patches_of_a_combined_training_set(patches):
    """A config training on several datasets (mmseg's list form, wrappers) gives its
    statistics the layout and pipeline of its first patch dataset."""
    cfg = mmcv.Config.fromfile(TINY_CONFIG)
    part = dict(cfg.data.train, img_dir='elsewhere/train')
    plain = statistics_patches(cfg, patches)
    for train in ([dict(type='CustomDataset', img_dir='x', pipeline=[]), cfg.data.train, part],
                  dict(type='RepeatDataset', times=3, dataset=cfg.data.train)):
        combined = statistics_patches(mmcv.Config(dict(cfg._cfg_dict, data=dict(
            cfg.data, train=train))), patches)
        assert len(combined) == len(plain)
        assert torch.equal(combined[0]['img'].data, plain[0]['img'].data)
    from bpr.core.io import InputError
    with pytest.raises(InputError, match='no patch dataset'):
        statistics_patches(mmcv.Config(dict(cfg._cfg_dict, data=dict(
            cfg.data, train=[dict(type='CustomDataset', img_dir='x', pipeline=[])]))), patches)


def test_publish_model_recalibrate(patches, tmp_path):
    a = random_checkpoint(str(tmp_path / 'a.pth'), seed=0)
    b = random_checkpoint(str(tmp_path / 'b.pth'), seed=1)
    out = tmp_path / 'out.pth'
    cmd = ['python', 'tools/publish_model.py', b, str(out), '--base', a, '--alpha', '0.5',
           '--config', TINY_CONFIG, '--device', 'cpu', '--recalibrate', patches,
           '--bn-patches', '5']
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    sa, sb, pub = (torch.load(p, weights_only=True) for p in (a, b, str(out)))
    assert pub['meta']['bn_recalibrated'] == dict(patches=5, seed=0)
    sa, sb, sp = sa['state_dict'], sb['state_dict'], pub['state_dict']
    weight, mean = 'backbone.conv1.weight', 'backbone.bn1.running_mean'
    assert torch.allclose(sp[weight], 0.5 * sa[weight] + 0.5 * sb[weight], atol=1e-6)
    assert not torch.allclose(sp[mean], 0.5 * sa[mean] + 0.5 * sb[mean])
    assert init_refiner(TINY_CONFIG, str(out), device='cpu') is not None
    # a folder without training patches: one line, nothing written
    cmd[cmd.index(patches)] = str(tmp_path)
    cmd[3] = str(tmp_path / 'x.pth')
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        f'error: {tmp_path}/img_dir/train: no such folder of training patches'], proc.stderr
    assert not (tmp_path / 'x.pth').exists()
