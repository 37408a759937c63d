"""Distillation: a refiner trained to match the mean patch probabilities of fixed teachers."""
import glob
import json
import os
import os.path as osp
import subprocess

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.models import build_segmentor

from bpr.apis import init_refiner
from bpr.core.io import InputError
from helpers import ROOT, TINY_CONFIG, random_checkpoint


def distill_model(teachers, **kwargs):
    cfg = mmcv.Config.fromfile(TINY_CONFIG)
    cfg.model.update(type='DistillEncoderDecoderRefine', teachers=teachers, **kwargs)
    return build_segmentor(cfg.model)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(2, 3, 64, 64, generator=g)
    mask = torch.randint(0, 2, (2, 1, 64, 64), generator=g).float() * 2 - 1
    gt = torch.zeros(2, 1, 64, 64, dtype=torch.long)
    gt[:, :, 16:48, 20:40] = 1
    gt[1, :, :, 56:] = 255  # padding: not labelled
    metas = [dict(img_shape=(64, 64, 3), ori_shape=(64, 64, 3), pad_shape=(64, 64, 3),
                  flip=False)] * 2
    return img, mask, gt, metas


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    d = tmp_path_factory.mktemp('teachers')
    return [random_checkpoint(str(d / f't{seed}.pth'), seed) for seed in (1, 2)]


def test_teachers_stay_out_of_the_state_dict_parameters_and_train_mode(teachers):
    model = distill_model([dict(checkpoint=teachers[0]), dict(checkpoint=teachers[1])])
    plain = init_refiner(TINY_CONFIG, 'none', 'cpu', fuse=False)
    assert model.state_dict().keys() == plain.state_dict().keys()
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in plain.parameters())
    model.train()
    assert all(not t.training for t in model._teachers)
    assert all(not p.requires_grad for t in model._teachers for p in t.parameters())


def test_teacher_probs_are_the_weighted_mean_of_the_teachers(teachers):
    model = distill_model([dict(checkpoint=teachers[0], weight=1),
                           dict(checkpoint=teachers[1], weight=3)])
    img, mask, _, _ = batch()
    got = model.teacher_probs(img, mask)
    probs = []
    for path in teachers:
        net = init_refiner(TINY_CONFIG, path, 'cpu', fuse=False)
        with torch.no_grad():
            probs.append(F.softmax(net.encode_decode(img, None, mask), dim=1))
    assert not torch.allclose(probs[0], probs[1], atol=1e-3)
    torch.testing.assert_close(got, 0.25 * probs[0] + 0.75 * probs[1])


def test_distill_loss_is_the_kl_divergence_over_the_labelled_pixels(teachers):
    model = distill_model([dict(checkpoint=teachers[0])], distill_weight=2.0).eval()
    img, mask, gt, metas = batch()
    losses = model.forward_train(img, metas, gt, mask)
    with torch.no_grad():
        target = model.teacher_probs(img, mask)
        p = F.softmax(model.encode_decode(img, metas, mask), dim=1)
    kl = (target * (target.log() - p.log())).sum(1)
    valid = gt[:, 0] != 255
    expected = 2.0 * kl[valid].mean()
    assert expected > 1e-4
    torch.testing.assert_close(losses['distill.loss_kl'], expected, rtol=1e-4, atol=1e-6)
    assert 'decode.loss_ce' in losses
    losses['distill.loss_kl'].backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_a_student_equal_to_its_teacher_has_no_distillation_loss(teachers):
    model = distill_model([dict(checkpoint=teachers[0])])
    model.load_state_dict(torch.load(teachers[0], weights_only=True)['state_dict'])
    img, mask, gt, metas = batch()
    loss = model.eval().forward_train(img, metas, gt, mask)['distill.loss_kl']
    assert abs(float(loss.detach())) < 1e-5


def test_the_outline_sampler_weights_the_distillation_loss_too(teachers):
    model = distill_model([dict(checkpoint=teachers[0])]).eval()
    img, mask, gt, metas = batch()
    plain = model.forward_train(img, metas, gt, mask)['distill.loss_kl']
    sampler = dict(type='OutlineWeightSampler', weight=5, radius=2)
    cfg = mmcv.Config.fromfile(TINY_CONFIG)
    cfg.model.decode_head.sampler = sampler
    weighted_model = distill_model([dict(checkpoint=teachers[0])],
                                   decode_head=cfg.model.decode_head).eval()
    weighted_model.load_state_dict(model.state_dict())
    losses = weighted_model.forward_train(img, metas, gt, mask)
    with torch.no_grad():
        target = model.teacher_probs(img, mask)
        p = F.softmax(model.encode_decode(img, metas, mask), dim=1)
        weight = weighted_model.decode_head.sampler.sample(p, gt)
    kl = (target * (target.log() - p.log())).sum(1)
    valid = (gt[:, 0] != 255).sum()
    torch.testing.assert_close(losses['distill.loss_kl'], (kl * weight).sum() / valid,
                               rtol=1e-4, atol=1e-6)
    assert not torch.isclose(losses['distill.loss_kl'], plain)


def test_bad_teachers_are_refused(teachers, tmp_path):
    with pytest.raises(ValueError, match='no teachers'):
        distill_model([])
    with pytest.raises(ValueError, match='weights must be >= 0'):
        distill_model([dict(checkpoint=teachers[0], weight=-1)])
    with pytest.raises(ValueError, match='without a checkpoint'):
        distill_model([dict(checkpoint=None)])
    with pytest.raises(ValueError, match='distill_weight'):
        distill_model([dict(checkpoint=teachers[0])], distill_weight=-1)
    other = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict={'conv.weight': torch.zeros(1)}), other)
    with pytest.raises(InputError, match=r'other\.pth: not a checkpoint of this model'):
        distill_model([dict(checkpoint=other)])


def test_cpu_distillation_config_names_its_teachers():
    cfg = mmcv.Config.fromfile(osp.join(ROOT, 'configs/bpr/hrnet18s_128_distill_cpu.py'))
    assert cfg.model.type == 'DistillEncoderDecoderRefine'
    assert [t.checkpoint for t in cfg.model.teachers] == ['default', None]
    assert cfg.model.decode_head.sampler.type == 'OutlineWeightSampler'
    with pytest.raises(ValueError, match=r'model\.teachers\.N\.checkpoint'):
        build_segmentor(cfg.model)


def test_training_with_teachers_saves_a_plain_refiner(patches, teachers, tmp_path):
    config = tmp_path / 'distill.py'
    config.write_text(f"_base_ = [{TINY_CONFIG!r}]\n"
                      f"model = dict(type='DistillEncoderDecoderRefine', distill_weight=1.0,\n"
                      f"             teachers=[dict(checkpoint={teachers[0]!r}, weight=1)])\n")
    work = str(tmp_path / 'work')
    proc = subprocess.run(
        ['python', 'tools/train.py', str(config), '--work-dir', work, '--no-validate',
         '--device', 'cpu', '--seed', '0', '--cfg-options', 'runner.max_iters=10',
         'checkpoint_config.interval=10', 'log_config.interval=5'],
        cwd=ROOT, env=dict(os.environ, DATA_ROOT=patches, OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in open(glob.glob(osp.join(work, '*.log.json'))[0])]
    kl = [r['distill.loss_kl'] for r in rows if r.get('mode') == 'train']
    assert len(kl) == 2 and all(v > 0 for v in kl)
    # the checkpoint is the student alone: it loads into the plain config
    model = init_refiner(TINY_CONFIG, osp.join(work, 'iter_10.pth'), 'cpu', fuse=False)
    teacher = init_refiner(TINY_CONFIG, teachers[0], 'cpu', fuse=False)
    assert not np.allclose(model.backbone.conv1.weight.detach().numpy(),
                           teacher.backbone.conv1.weight.detach().numpy())
