"""The refinement network: registration, forward/backward, checkpoint layout and loading."""
import os.path as osp
import warnings

import mmcv
import numpy as np
import pytest
import torch
from mmcv.cnn.utils import revert_sync_batchnorm
from mmcv.runner import load_checkpoint
from mmseg.core import build_pixel_sampler
from mmseg.core.seg.builder import PIXEL_SAMPLERS
from mmseg.models import BACKBONES, SEGMENTORS, build_backbone, build_segmentor
from mmseg.datasets import DATASETS, PIPELINES

import bpr  # noqa: F401
from bpr.core.io import InputError
from helpers import ROOT

CONFIGS = {
    'hrnet18s_128': (osp.join(ROOT, 'configs/bpr/hrnet18s_128.py'), [18, 36, 72, 144]),
    'hrnet48_256': (osp.join(ROOT, 'configs/bpr/hrnet48_256.py'), [48, 96, 192, 384]),
}


def build(name):
    cfg = mmcv.Config.fromfile(CONFIGS[name][0])
    cfg.model.pretrained = None  # no download
    return cfg, revert_sync_batchnorm(build_segmentor(cfg.model))


@pytest.mark.parametrize('name', list(CONFIGS))
def test_building_a_config_warns_of_nothing(name):
    """Our configs state what mmseg would otherwise warn about at every tool run."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        build(name)
    assert [str(w.message) for w in caught] == []


def test_modules_registered():
    assert BACKBONES.get('HRNetRefine') is not None
    assert SEGMENTORS.get('EncoderDecoderRefine') is not None
    assert DATASETS.get('RefineDataset') is not None
    assert PIPELINES.get('LoadCoarseMask') is not None
    assert PIXEL_SAMPLERS.get('OutlineWeightSampler') is not None


def test_configs_import_bpr_for_stock_tools():
    cfg = mmcv.Config.fromfile(CONFIGS['hrnet18s_128'][0])
    assert cfg.custom_imports == dict(imports=['bpr'], allow_failed_imports=False)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.model.pretrained == 'open-mmlab://msra/hrnetv2_w18_small'
    assert cfg.runner.max_iters == 160000 and cfg.lr_config.policy == 'poly'
    assert cfg.lr_config.min_lr == 1e-4 and cfg.optimizer.lr == 0.01
    cfg48 = mmcv.Config.fromfile(CONFIGS['hrnet48_256'][0])
    assert cfg48.model.pretrained == 'open-mmlab://msra/hrnetv2_w48'
    sizes = [s['img_scale'] for s in cfg48.data.train.pipeline if s['type'] == 'ResizeExact']
    assert sizes == [(256, 256)]
    assert cfg48.data.test.pipeline[2]['img_scale'] == (256, 256)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_state_dict_layout_matches_original(name):
    cfg, model = build(name)
    channels = CONFIGS[name][1]
    sd = model.state_dict()
    plain_cfg = cfg.model.backbone.copy()
    plain_cfg.type = 'HRNet'
    plain_cfg.pop('use_coarse_mask')
    plain = revert_sync_batchnorm(build_backbone(plain_cfg)).state_dict()
    backbone = {k[len('backbone.'):]: v.shape for k, v in sd.items() if k.startswith('backbone.')}
    # mmseg's HRNet names, plus exactly the mask convolution
    assert set(backbone) == set(plain) | {'conv_mask.weight'}
    assert all(backbone[k] == plain[k].shape for k in plain)
    assert tuple(sd['backbone.conv_mask.weight'].shape) == (64, 1, 3, 3)
    assert tuple(sd['backbone.conv1.weight'].shape) == (64, 3, 3, 3)
    total = sum(channels)
    head = {k: tuple(v.shape) for k, v in sd.items() if k.startswith('decode_head.')}
    assert head['decode_head.conv_seg.weight'] == (2, total, 1, 1)
    assert head['decode_head.conv_seg.bias'] == (2, )
    assert head['decode_head.convs.0.conv.weight'] == (total, total, 1, 1)
    assert head['decode_head.convs.0.bn.weight'] == (total, )
    assert set(head) == {
        'decode_head.conv_seg.weight', 'decode_head.conv_seg.bias',
        'decode_head.convs.0.conv.weight', 'decode_head.convs.0.bn.weight',
        'decode_head.convs.0.bn.bias', 'decode_head.convs.0.bn.running_mean',
        'decode_head.convs.0.bn.running_var', 'decode_head.convs.0.bn.num_batches_tracked'
    }
    assert all(k.startswith(('backbone.', 'decode_head.')) for k in sd)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_forward_backward_and_test_output(name):
    _, model = build(name)
    img = torch.randn(2, 3, 64, 64)
    mask = torch.randint(0, 2, (2, 1, 64, 64)).float() * 2 - 1
    gt = torch.randint(0, 2, (2, 1, 64, 64))
    metas = [dict(img_shape=(64, 64, 3), ori_shape=(48, 48, 3), pad_shape=(64, 64, 3),
                  flip=False)] * 2
    model.train()
    losses = model(img, metas, gt_semantic_seg=gt, coarse_mask=mask)
    loss = losses['decode.loss_ce']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.backbone.conv_mask.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model([img], [metas], coarse_mask=[mask], return_loss=False)
    assert len(out) == 2 and out[0].shape == (48, 48) and out[0].dtype == np.float32
    assert (out[0] >= 0).all() and (out[0] <= 1).all()
    # the mask channel matters
    with torch.no_grad():
        other = model([img], [metas], coarse_mask=[-mask], return_loss=False)
    assert not np.allclose(out[0], other[0])


def near_outline_by_brute_force(label, valid, radius):
    near = np.zeros_like(valid)
    for y, x in zip(*np.nonzero(valid)):
        window = np.s_[max(y - radius, 0):y + radius + 1, max(x - radius, 0):x + radius + 1]
        near[y, x] = len(np.unique(label[window][valid[window]])) > 1
    return near


@pytest.mark.parametrize('radius', [1, 2])
def test_outline_sampler_weights_the_pixels_near_a_class_change(radius):
    head = type('Head', (), {'ignore_index': 255})()
    sampler = build_pixel_sampler(dict(type='OutlineWeightSampler', weight=5, radius=radius),
                                  context=head)
    rng = np.random.default_rng(0)
    label = np.zeros((2, 24, 24), np.int64)
    label[0, 6:15, 4:20] = 1
    label[1] = rng.integers(0, 2, (24, 24))
    label[1, 3:6, 3:6] = 255  # ignored: neither class, weight 0
    weight = sampler.sample(torch.zeros(2, 2, 24, 24), torch.from_numpy(label)[:, None]).numpy()
    valid = label != 255
    near = np.stack([near_outline_by_brute_force(lab, v, radius) for lab, v in zip(label, valid)])
    assert weight.shape == (2, 24, 24)
    assert (weight[~valid] == 0).all()
    assert weight[valid].mean() == pytest.approx(1.0, rel=1e-5)
    # five times the weight near the outline, wherever the brute force finds it
    assert np.allclose(weight[near], 5 * weight[valid & ~near].max())
    assert np.allclose(weight[valid & ~near], weight[valid & ~near].min())
    # the rectangle's rings inside and outside, radius px wide: (9+2r)(16+2r) - (9-2r)(16-2r)
    assert near[0].sum() == 100 * radius
    # a patch of one class has no outline: every valid pixel weighs 1
    flat = sampler.sample(torch.zeros(1, 2, 8, 8), torch.ones(1, 1, 8, 8, dtype=torch.long))
    assert torch.equal(flat, torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match='radius'):
        build_pixel_sampler(dict(type='OutlineWeightSampler', radius=0), context=head)


def _training_batch():
    """Two 64-px patches (image, coarse mask in [-1, 1], label) and their metas."""
    torch.manual_seed(0)
    img = torch.randn(2, 3, 64, 64)
    mask = torch.randint(0, 2, (2, 1, 64, 64)).float() * 2 - 1
    gt = torch.zeros(2, 1, 64, 64, dtype=torch.long)
    gt[:, :, 16:48, 20:40] = 1
    metas = [dict(img_shape=(64, 64, 3), ori_shape=(64, 64, 3), pad_shape=(64, 64, 3),
                  flip=False)] * 2
    return img, mask, gt, metas


def test_cpu_continuation_config_trains_with_the_outline_weights():
    cfg = mmcv.Config.fromfile(osp.join(ROOT, 'configs/bpr/hrnet18s_128_diverse_cpu.py'))
    assert cfg.optimizer_config.type == 'AmpOptimizerHook'
    assert cfg.model.backbone.norm_eval and cfg.model.pretrained is None
    model = revert_sync_batchnorm(build_segmentor(cfg.model))
    img, mask, gt, metas = _training_batch()
    model.train()
    weighted = model(img, metas, gt_semantic_seg=gt, coarse_mask=mask)['decode.loss_ce']
    weighted.backward()
    assert torch.isfinite(weighted)
    model.decode_head.sampler = None
    plain = model(img, metas, gt_semantic_seg=gt, coarse_mask=mask)['decode.loss_ce']
    assert not torch.isclose(weighted, plain)


def test_lovasz_config_adds_an_iou_loss_to_the_weighted_cross_entropy():
    cfg = mmcv.Config.fromfile(osp.join(ROOT, 'configs/bpr/hrnet18s_128_lovasz_cpu.py'))
    assert cfg.model.decode_head.sampler.type == 'OutlineWeightSampler'
    model = revert_sync_batchnorm(build_segmentor(cfg.model))
    img, mask, gt, metas = _training_batch()
    model.train()
    losses = model(img, metas, gt_semantic_seg=gt, coarse_mask=mask)
    lovasz = losses['decode.loss_lovasz']
    # an untrained network's foreground IoU is far from 1: the term is large and trainable
    assert 0.1 < lovasz.item() <= 1 and lovasz.requires_grad
    (lovasz + losses['decode.loss_ce']).backward()
    assert model.decode_head.conv_seg.weight.grad.abs().sum() > 0


def test_label_output_and_no_mask_ablation():
    cfg = mmcv.Config.fromfile(osp.join(ROOT, 'configs/bpr/hrnet18s_128_nomask.py'))
    cfg.model.pretrained = None
    cfg.model.test_cfg.output = 'label'
    assert cfg.model.backbone.use_coarse_mask is False
    model = revert_sync_batchnorm(build_segmentor(cfg.model)).eval()
    assert not any('conv_mask' in k for k in model.state_dict())
    meta = [dict(img_shape=(32, 32, 3), ori_shape=(32, 32, 3), flip=False)]
    with torch.no_grad():
        out = model([torch.randn(1, 3, 32, 32)], [meta], return_loss=False)
    assert set(np.unique(out[0])) <= {0.0, 1.0}


def _save_like_mmcv1(model, path, legacy):
    """A checkpoint as mmcv 1.x's save_checkpoint writes it (meta + state_dict), optionally in
    the pre-1.6 torch serialisation and with a NumPy object in its meta."""
    meta = dict(mmcv_version='1.1.6', time='Sat Nov 21 2020', CLASSES=('background', 'foreground'),
                PALETTE=[[0, 0, 0], [255, 255, 255]], iter=160000, epoch=1)
    if legacy:
        meta['seed'] = np.int64(7)  # NumPy scalars need the loader's allow-list
    ckpt = dict(meta=meta, state_dict={k: v.cpu() for k, v in model.state_dict().items()})
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)


@pytest.mark.parametrize('legacy', [False, True])
def test_checkpoint_from_mmcv1_loads_without_missing_keys(tmp_path, legacy):
    _, model = build('hrnet18s_128')
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    path = str(tmp_path / 'ckpt.pth')
    _save_like_mmcv1(model, path, legacy)
    _, fresh = build('hrnet18s_128')
    ckpt = load_checkpoint(fresh, path, map_location='cpu', strict=True)
    assert ckpt['meta']['CLASSES'] == ('background', 'foreground')
    assert ckpt['meta'].get('seed', 7) == 7
    for (k, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), k

    from bpr.apis import init_refiner
    refiner = init_refiner(CONFIGS['hrnet18s_128'][0], path, device='cpu', fuse=False)
    assert torch.equal(refiner.backbone.conv_mask.weight, model.backbone.conv_mask.weight)


def test_checkpoint_with_a_missing_key_is_refused(tmp_path):
    _, model = build('hrnet18s_128')
    sd = model.state_dict()
    sd.pop('backbone.conv_mask.weight')
    path = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict=sd), path)
    from bpr.apis import init_refiner
    with pytest.raises(InputError, match=r'bad.pth: not a checkpoint of this model: 1 missing '
                       r'keys, e.g. backbone.conv_mask.weight$'):
        init_refiner(CONFIGS['hrnet18s_128'][0], path, device='cpu')


def test_stock_mmseg_sees_the_modules_through_custom_imports():
    """A fresh interpreter that never imports bpr itself builds the model from the config."""
    import subprocess
    import sys
    code = ('import sys; from mmcv import Config; from mmseg.models import build_segmentor; '
            f'cfg = Config.fromfile({CONFIGS["hrnet18s_128"][0]!r}); '
            'assert "bpr" in sys.modules; cfg.model.pretrained = None; '
            'print(type(build_segmentor(cfg.model)).__name__)')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith('EncoderDecoderRefine')


def _randomise_batchnorm(model, seed=0):
    """Non-trivial running statistics and affine parameters, so that folding them shows."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen))
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=gen))


@pytest.mark.parametrize('name,use_mask', [('hrnet18s_128', True), ('hrnet18s_128', False),
                                           ('hrnet48_256', True)])
def test_fused_network_computes_the_same(name, use_mask):
    from bpr.models import fuse_conv_bn
    cfg = mmcv.Config.fromfile(CONFIGS[name][0])
    cfg.model.pretrained = None
    cfg.model.backbone.use_coarse_mask = use_mask
    model = revert_sync_batchnorm(build_segmentor(cfg.model)).eval()
    _randomise_batchnorm(model)
    gen = torch.Generator().manual_seed(1)
    img = torch.randn(2, 3, 64, 64, generator=gen)
    mask = torch.randint(0, 2, (2, 1, 64, 64), generator=gen).float() * 2 - 1
    meta = [dict(ori_shape=(64, 64, 3), img_shape=(64, 64, 3), flip=False)] * 2
    with torch.no_grad():
        before = model.encode_decode(img, meta, mask)
        fused = fuse_conv_bn(model)
        after = fused.encode_decode(img, meta, mask)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                   for m in fused.modules())
    assert before.abs().max() > 1  # a scale at which a wrong fold shows
    torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('device', ['cpu', 'cuda'])
@pytest.mark.parametrize('channels_last', [None, False])
def test_training_runs_in_nhwc_unless_the_config_says_no(monkeypatch, device, channels_last):
    import bpr.apis.train as train_api
    cfg = mmcv.Config.fromfile(osp.join(ROOT, 'configs/bpr/hrnet18s_64_tiny.py'))
    cfg.model.pretrained = None
    cfg.device = device  # the model stays on the CPU: only the conversion is checked
    if channels_last is not None:
        cfg.channels_last = channels_last
    model = build_segmentor(cfg.model)
    seen = {}
    monkeypatch.setattr(train_api, 'train_segmentor', lambda m, d, c, *a: seen.update(
        nhwc=m.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last),
        runner=c.runner.type))
    train_api.train_refiner(model, [], cfg)
    assert seen['nhwc'] is (channels_last is None)
    assert seen['runner'] == ('CPUIterBasedRunner' if device == 'cpu' else 'IterBasedRunner')
