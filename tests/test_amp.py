"""Mixed-precision training (``AmpOptimizerHook``) on the CPU: bfloat16 autocast."""
import glob
import logging
import os.path as osp
import types
import warnings

import mmcv
import numpy as np
import pytest
import torch
from mmseg.models import build_segmentor

from bpr.core import amp
from bpr.core.amp import AmpOptimizerHook
from helpers import TINY_CONFIG
from test_scripts import _losses, run

AMP = ['optimizer_config.type=AmpOptimizerHook', 'optimizer_config.dtype=bfloat16']


def _tiny_model():
    cfg = mmcv.Config.fromfile(TINY_CONFIG)
    torch.manual_seed(0)
    return build_segmentor(cfg.model).train()


def _batch(n=2, side=64):
    gen = torch.Generator().manual_seed(0)
    return dict(img=torch.randn(n, 3, side, side, generator=gen),
                img_metas=[dict(img_shape=(side, side, 3), ori_shape=(side, side, 3),
                                pad_shape=(side, side, 3), flip=False)] * n,
                gt_semantic_seg=torch.randint(0, 2, (n, 1, side, side), generator=gen),
                coarse_mask=torch.randint(0, 2, (n, 1, side, side), generator=gen).float() * 2 - 1)


@pytest.mark.parametrize('amp_dtype', [None, torch.bfloat16])
def test_forward_train_autocasts_to_amp_dtype(amp_dtype):
    model = _tiny_model()
    model.amp_dtype = amp_dtype
    seen = []
    model.backbone.conv1.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    losses = model.forward_train(**_batch())
    assert seen == [amp_dtype or torch.float32]
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)


def test_bf16_loss_close_to_fp32():
    model = _tiny_model()
    batch = _batch()
    fp32 = model.forward_train(**batch)['decode.loss_ce'].item()
    model.amp_dtype = torch.bfloat16
    bf16 = model.forward_train(**batch)['decode.loss_ce'].item()
    assert bf16 == pytest.approx(fp32, rel=0.02) and bf16 != fp32


def _runner(model):
    return types.SimpleNamespace(model=model, logger=logging.getLogger('test_amp'))


def test_hook_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="dtype 'int8'"):
        AmpOptimizerHook(dtype='int8')
    with pytest.raises(ValueError, match='float16 training needs a CUDA GPU'):
        AmpOptimizerHook(dtype='float16').before_run(_runner(_tiny_model()))
    with pytest.raises(TypeError, match='Conv2d has no amp_dtype'):
        AmpOptimizerHook().before_run(_runner(torch.nn.Conv2d(1, 1, 1)))
    with pytest.raises(ValueError, match='loss_scale'):
        AmpOptimizerHook(dtype='float16', loss_scale='static')
    model = _tiny_model()
    AmpOptimizerHook(dtype='bf16').before_run(_runner(model))
    assert model.amp_dtype == torch.bfloat16


def test_float32_dtype_turns_autocast_off():
    model = _tiny_model()
    model.amp_dtype = torch.bfloat16
    hook = AmpOptimizerHook(dtype='float32')
    hook.before_run(_runner(model))
    assert model.amp_dtype is None and hook.loss_scaler is None


@pytest.mark.parametrize('native', [False, True])
def test_bfloat16_on_a_cpu_without_it_warns(monkeypatch, native):
    monkeypatch.setattr(amp.platform, 'machine', lambda: 'x86_64')
    for probe in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        monkeypatch.setattr(torch.cpu, probe, lambda: native, raising=False)
    assert amp.cpu_computes_bfloat16() is native
    model = _tiny_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        AmpOptimizerHook(dtype='bfloat16').before_run(_runner(model))
    said = [str(w.message) for w in caught if 'native bfloat16' in str(w.message)]
    assert len(said) == (0 if native else 1)
    assert native or 'optimizer_config.dtype=float32' in said[0]
    assert model.amp_dtype == torch.bfloat16  # a warning, not a change of what was asked


def test_cpu_bfloat16_probe_unknown_on_an_older_torch_or_not_x86(monkeypatch):
    monkeypatch.setattr(amp.platform, 'machine', lambda: 'x86_64')
    for probe in ('_is_avx512_bf16_supported', '_is_amx_tile_supported'):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)
    assert amp.cpu_computes_bfloat16() is False
    monkeypatch.setattr(amp.platform, 'machine', lambda: 'aarch64')
    assert amp.cpu_computes_bfloat16() is None
    monkeypatch.setattr(amp.platform, 'machine', lambda: 'x86_64')
    monkeypatch.delattr(torch.cpu, '_is_amx_tile_supported')
    assert amp.cpu_computes_bfloat16() is None


def test_float16_hook_builds_its_loss_scaler_without_a_deprecation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter('error', FutureWarning)
        hook = AmpOptimizerHook(dtype='float16', loss_scale=dict(init_scale=1024.))
    assert isinstance(hook.loss_scaler, torch.amp.GradScaler if hasattr(torch.amp, 'GradScaler')
                      else torch.cuda.amp.GradScaler)


def test_training_in_bfloat16_learns_and_resumes(patches, tmp_path):
    """Two CPU processes (DDP), then resumed in one."""
    work = str(tmp_path / 'work')
    run(['bash', 'tools/dist_train.sh', TINY_CONFIG, '2', '--work-dir', work, '--no-validate',
         '--seed', '0', '--cfg-options', 'runner.max_iters=30', 'optimizer.lr=0.05',
         'checkpoint_config.interval=15', 'log_config.interval=5'] + AMP,
        env=dict(DATA_ROOT=patches, PORT='29617'), timeout=900)
    log = open(sorted(glob.glob(osp.join(work, '*.log')))[-1]).read()
    assert 'autocast to torch.bfloat16 on cpu' in log
    losses = _losses(work)
    assert len(losses) >= 4 and np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    state = torch.load(osp.join(work, 'iter_30.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--no-validate',
         '--resume-from', osp.join(work, 'iter_15.pth'), '--cfg-options', 'runner.max_iters=20',
         'checkpoint_config.interval=20'] + AMP, env=dict(DATA_ROOT=patches), timeout=900)
    assert osp.isfile(osp.join(work, 'iter_20.pth'))
