"""On a CUDA GPU: training (one process and dist_train.sh; float32, float16 and bfloat16),
resume, validation during training, dist_test.sh and inference equal to the CPU, a pass that
the GPU cannot hold, distillation's teachers on the GPU. ``pytest -m gpu`` on a GPU machine."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from helpers import TINY_CONFIG, random_checkpoint
from test_scripts import _losses, run

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')]

TRAIN = ['--cfg-options', 'runner.max_iters=30', 'optimizer.lr=0.05',
         'checkpoint_config.interval=15', 'log_config.interval=5', 'evaluation.interval=15']


def _trained(work):
    assert osp.isfile(osp.join(work, 'iter_30.pth'))
    losses = _losses(work)
    assert len(losses) >= 4 and np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    log = open(sorted(p for p in __import__('glob').glob(osp.join(work, '*.log')))[-1]).read()
    assert '(cuda)' in log and 'mIoU' in log  # on the GPU, with validation during training


def test_train_one_gpu_and_resume(patches, tmp_path):
    work = str(tmp_path / 'work')
    run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--seed', '0'] + TRAIN,
        env=dict(DATA_ROOT=patches), timeout=900)
    _trained(work)
    run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume-from',
         osp.join(work, 'iter_15.pth')] + TRAIN[:1] + ['runner.max_iters=35',
                                                        'checkpoint_config.interval=35'],
        env=dict(DATA_ROOT=patches), timeout=900)
    assert osp.isfile(osp.join(work, 'iter_35.pth'))


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_train_one_gpu_mixed_precision(patches, tmp_path, dtype):
    work = str(tmp_path / 'work')
    run(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--seed', '0'] + TRAIN
        + ['optimizer_config.type=AmpOptimizerHook', f'optimizer_config.dtype={dtype}'],
        env=dict(DATA_ROOT=patches), timeout=900)
    _trained(work)
    log = open(sorted(__import__('glob').glob(osp.join(work, '*.log')))[-1]).read()
    assert f'autocast to torch.{dtype} on cuda' in log


def test_dist_train_one_gpu_syncbn(patches, tmp_path):
    work = str(tmp_path / 'work')
    run(['bash', 'tools/dist_train.sh', TINY_CONFIG, '1', '--work-dir', work, '--seed', '0']
        + TRAIN + ['model.backbone.norm_cfg.type=SyncBN', 'model.decode_head.norm_cfg.type=SyncBN'],
        env=dict(DATA_ROOT=patches), timeout=900)
    _trained(work)
    run(['bash', 'tools/dist_train.sh', TINY_CONFIG, '1', '--work-dir', work, '--auto-resume']
        + TRAIN[:1] + ['runner.max_iters=35', 'checkpoint_config.interval=35'],
        env=dict(DATA_ROOT=patches), timeout=900)
    assert osp.isfile(osp.join(work, 'iter_35.pth'))


def test_dist_test_on_gpu_equals_cpu(patches, tmp_path):
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    cpu, gpu = str(tmp_path / 'cpu.pkl'), str(tmp_path / 'gpu.pkl')
    run(['python', 'tools/test.py', TINY_CONFIG, ckpt, '--out', cpu, '--device', 'cpu'],
        env=dict(DATA_ROOT=patches))
    run(['bash', 'tools/dist_test.sh', TINY_CONFIG, ckpt, '1', '--out', gpu],
        env=dict(DATA_ROOT=patches))
    a, b = pickle.load(open(cpu, 'rb')), pickle.load(open(gpu, 'rb'))
    assert len(a) == len(b) > 0
    assert max(float(np.abs(x - y).max()) for x, y in zip(a, b)) < 1e-3


def test_inference_on_gpu_equals_cpu(coco, tmp_path):
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    outs = {}
    for device in ('cpu', 'cuda'):
        outs[device] = str(tmp_path / f'{device}.json')
        run(['python', 'tools/refine_coco.py', TINY_CONFIG, ckpt, coco['coarse'],
             outs[device], '--img-dir', coco['img_dir'], '--gt-json', coco['gt'],
             '--patch-size', '32', '--device', device])
    import pycocotools.mask as mask_utils
    a, b = json.load(open(outs['cpu'])), json.load(open(outs['cuda']))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x['extra'] == y['extra']
        mx, my = mask_utils.decode(x['segmentation']), mask_utils.decode(y['segmentation'])
        # probabilities within float rounding: at most a few pixels at 0.5 flip
        assert (mx != my).sum() <= max(3, 0.001 * mx.size)


def test_real_out_of_gpu_memory_halves_the_pass():
    """A real torch.cuda.OutOfMemoryError (the process held to 1 GiB of the GPU): the pass is
    run again at fewer patches, with the probabilities of a pass that fits."""
    from bpr.apis import init_refiner, run_patches
    model = init_refiner(osp.join(osp.dirname(TINY_CONFIG), 'hrnet18s_128.py'), 'none',
                         device='cuda')
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (1024, 64, 64, 3), dtype=np.uint8)
    masks = rng.random((1024, 64, 64)) > 0.5
    expected = run_patches(model, imgs, masks, batch_size=64)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(2 ** 30 / total)
    try:
        with pytest.warns(UserWarning, match='out of GPU memory'):
            probs = run_patches(model, imgs, masks, batch_size=1024)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert 1 <= model.max_patches_per_pass < 1024
    assert np.abs(probs - expected).max() < 1e-3


def test_distillation_teachers_follow_the_student_to_the_gpu(tmp_path):
    from test_distill import batch, distill_model
    model = distill_model([dict(checkpoint=random_checkpoint(str(tmp_path / 't.pth'), 1))])
    img, mask, gt, metas = batch()
    with torch.no_grad():
        cpu = model.eval().forward_train(img, metas, gt, mask)['distill.loss_kl']
        model.cuda()
        gpu = model.forward_train(img.cuda(), metas, gt.cuda(), mask.cuda())['distill.loss_kl']
    assert next(model._teachers[0].parameters()).is_cuda
    assert cpu > 1e-4
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0.02, atol=1e-5)
