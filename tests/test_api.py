"""Python API, demo script, notebook, and make_coarse."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

from bpr.apis import init_refiner, refine
from bpr.apis.coco import refine_coco_file
from bpr.core import PatchConfig, decode
from bpr.core.coarse import make_coarse
from bpr.core.io import InputError
from helpers import ROOT, TINY_CONFIG, random_checkpoint


@pytest.fixture(scope='module')
def model():
    return init_refiner(TINY_CONFIG, 'none', device='cpu')


def _image_and_masks(coco, k=0):
    gt = json.load(open(coco['gt']))
    info = gt['images'][k]
    coarse = [r for r in json.load(open(coco['coarse'])) if r['image_id'] == info['id']]
    img = cv2.imread(osp.join(coco['img_dir'], info['file_name']))
    return img, coarse, info


def test_api_forms_round_trip_and_agree(coco, model):
    img, coarse, info = _image_and_masks(coco)
    h, w = img.shape[:2]
    arr = np.stack([decode(r['segmentation'], h, w) for r in coarse])
    kw = dict(iou_thresh=0.25, patch_size=32)
    out_arr = refine(model, img, arr, **kw)
    out_rle = refine(model, img, [r['segmentation'] for r in coarse], **kw)
    out_dict = refine(model, osp.join(coco['img_dir'], info['file_name']), coarse, **kw)
    # a list of (H, W) arrays, alone and mixed with a COCO dict: each item in its own form
    out_list = refine(model, img, list(arr), **kw)
    out_mixed = refine(model, img, [coarse[0]] + list(arr[1:]), **kw)
    assert out_arr.shape == arr.shape and out_arr.dtype == bool
    assert len(arr) > 1 and len(out_list) == len(out_mixed) == len(arr)
    assert all(m.dtype == bool and np.array_equal(m, a) for m, a in zip(out_list, out_arr))
    assert out_mixed[0] == out_dict[0]
    assert all(np.array_equal(m, a) for m, a in zip(out_mixed[1:], out_arr[1:]))
    # torch tensors, as detectors give them: tensors back
    out_tensor = refine(model, img, torch.from_numpy(arr), **kw)
    out_tensors = refine(model, img, list(torch.from_numpy(arr)), **kw)
    assert isinstance(out_tensor, torch.Tensor) and out_tensor.dtype == torch.bool
    assert np.array_equal(out_tensor.numpy(), out_arr)
    assert all(isinstance(t, torch.Tensor) and np.array_equal(t.numpy(), a)
               for t, a in zip(out_tensors, out_arr))
    assert len(out_rle) == len(out_dict) == len(coarse)
    for a, r, d, c in zip(out_arr, out_rle, out_dict, coarse):
        assert set(r) == {'size', 'counts'}
        assert np.array_equal(a, mask_utils.decode(r).astype(bool))
        assert r == d['segmentation']
        assert {k: v for k, v in d.items() if k != 'segmentation'} == \
            {k: v for k, v in c.items() if k != 'segmentation'}


def test_api_equals_cli_path(coco, model, tmp_path):
    out = refine_coco_file(model, coco['coarse'], str(tmp_path / 'r.json'), coco['gt'],
                           coco['img_dir'], PatchConfig(32, 0, 0.25), progress=False)
    gt = json.load(open(coco['gt']))
    for k, info in enumerate(gt['images']):
        img, coarse, _ = _image_and_masks(coco, k)
        api = refine(model, img, coarse, iou_thresh=0.25, patch_size=32)
        cli = [r for r in out if r['image_id'] == info['id']]
        assert [a['segmentation'] for a in api] == [c['segmentation'] for c in cli]


def test_api_bad_input(coco, model, tmp_path):
    img, coarse, _ = _image_and_masks(coco)
    with pytest.raises(ValueError, match=r'shape \(N, 96, 128\)'):
        refine(model, img, np.zeros((2, 10, 10), bool))
    with pytest.raises(ValueError, match=r'masks\[1\]: expected shape \(96, 128\)'):
        refine(model, img, [np.zeros((96, 128), bool), np.zeros((128, 96), bool)])
    with pytest.raises(ValueError, match=r'masks: expected shape \(N, 96, 128\), got \(96, 128\)'):
        refine(model, img, torch.zeros(96, 128, dtype=torch.bool))
    with pytest.raises(ValueError, match=r'image: expected an HxW, HxWx3 or HxWx4 array, got '
                                         r'shape \(96, 128, 2\)'):
        refine(model, img[..., :2], np.zeros((0, 96, 128), bool))
    with pytest.raises(ValueError, match=r'image: expected a uint8 array .*got float32'):
        refine(model, img.astype(np.float32) / 255, np.zeros((0, 96, 128), bool))
    with pytest.raises(InputError, match=r'masks\[0\].*size'):
        refine(model, img, [dict(size=[3, 3], counts='9')])
    with pytest.raises(InputError, match='nope.png: image file not found'):
        refine(model, 'nope.png', [])
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(InputError, match='empty.jpg: empty file, not an image'):
        refine(model, str(empty), [])
    junk = tmp_path / 'junk.png'
    junk.write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(40))
    with pytest.raises(InputError, match='junk.png: not a readable image'):
        refine(model, str(junk), [])
    with pytest.raises(InputError, match=r'masks\[0\]: RLE run lengths sum to 3'):
        refine(model, img, [dict(size=[96, 128], counts=[3])])
    assert refine(model, img, np.zeros((0, 96, 128), bool)).shape == (0, 96, 128)


def test_grey_and_bgra_arrays_are_refined_as_their_bgr(coco, model):
    from bpr.apis.inference import _read_image
    img, coarse, _ = _image_and_masks(coco)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    as_bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    bgra = np.dstack([img, np.full(img.shape[:2], 7, np.uint8)])  # alpha is not looked at
    assert np.array_equal(_read_image(grey), as_bgr)
    assert np.array_equal(_read_image(grey[..., None]), as_bgr)
    assert np.array_equal(_read_image(bgra), img)
    kw = dict(iou_thresh=0.25, patch_size=32)
    assert refine(model, grey, coarse, **kw) == refine(model, as_bgr, coarse, **kw)
    assert refine(model, bgra, coarse, **kw) == refine(model, img, coarse, **kw)


def test_bf16_precision_close_to_fp32_through_api_and_cli(coco, tmp_path):
    from bpr.apis import run_patches
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    fp32 = init_refiner(TINY_CONFIG, ckpt, 'cpu')
    bf16 = init_refiner(TINY_CONFIG, ckpt, 'cpu', precision='bf16')
    assert next(bf16.parameters()).dtype == torch.bfloat16
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    masks = rng.random((6, 32, 32)) > 0.5
    a, b = run_patches(fp32, imgs, masks), run_patches(bf16, imgs, masks)
    assert b.dtype == np.float32
    assert 0 < np.abs(a - b).max() < 0.05
    out = str(tmp_path / 'bf16.json')
    subprocess.run([sys.executable, 'tools/refine_coco.py', TINY_CONFIG, ckpt, coco['coarse'],
                    out, '--img-dir', coco['img_dir'], '--gt-json', coco['gt'],
                    '--patch-size', '32', '--precision', 'bf16', '--device', 'cpu'],
                   cwd=ROOT, check=True, capture_output=True)
    ref = refine_coco_file(fp32, coco['coarse'], str(tmp_path / 'fp32.json'), coco['gt'],
                           coco['img_dir'], PatchConfig(32, 0, 0.25), progress=False)
    got = json.load(open(out))
    assert [r['extra'] for r in got] == [r['extra'] for r in ref]
    # bf16 reached the network (the random tiny network sits near 0.5, so masks differ) ...
    assert any(g['segmentation'] != r['segmentation'] for g, r in zip(got, ref))
    # ... and changes them little
    for g, r in zip(got, ref):
        assert mask_utils.iou([g['segmentation']], [r['segmentation']], [0])[0, 0] > 0.9
    with pytest.raises(ValueError, match="precision.*'int8'"):
        init_refiner(TINY_CONFIG, ckpt, 'cpu', precision='int8')


def test_make_coarse_is_deterministic_and_coarse(coco):
    gt = json.load(open(coco['gt']))
    a = make_coarse(gt, grid=8, seed=3)
    assert a == make_coarse(gt, grid=8, seed=3)
    assert a != make_coarse(gt, grid=8, seed=4)
    assert len(a) == len(gt['annotations'])
    ious = [mask_utils.iou([r['segmentation']], [g['segmentation']], [0])[0][0]
            for r, g in zip(a, gt['annotations'])]
    assert 0.5 < np.mean(ious) < 0.99  # close, but not the ground truth
    fine = make_coarse(gt, grid=64, jitter=0, seed=3)
    fine_ious = [mask_utils.iou([r['segmentation']], [g['segmentation']], [0])[0][0]
                 for r, g in zip(fine, gt['annotations'])]
    assert np.mean(fine_ious) > np.mean(ious)
    assert len(make_coarse(gt, drop=1.0)) == 0
    assert len(make_coarse(gt, merge=1.0)) < len(a)


def _run(args, **kw):
    return subprocess.run([sys.executable, *args], cwd=kw.pop('cwd', ROOT), capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=ROOT), **kw)


def test_demo_script_default_runs_offline(tmp_path):
    out = tmp_path / 'demo.png'
    proc = _run([osp.join(ROOT, 'demo/inference_img.py'), '--out', str(out),
                 '--device', 'cpu'], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    pic = cv2.imread(str(out))
    assert pic is not None and pic.shape[0] == 512 and pic.shape[1] > 1000


def test_demo_script_user_data_and_errors(coco, tmp_path):
    img, coarse, info = _image_and_masks(coco)
    h, w = img.shape[:2]
    masks = np.stack([decode(r['segmentation'], h, w) for r in coarse])
    np.save(tmp_path / 'm.npy', masks)
    cv2.imwrite(str(tmp_path / 'label.png'), (masks * np.arange(1, len(masks) + 1)[:, None,
                                                                              None]).max(0)
                .astype(np.uint8))
    img_path = osp.join(coco['img_dir'], info['file_name'])
    for m in ('m.npy', 'label.png', coco['coarse'].replace('coarse.json', 'one.json')):
        if m.endswith('one.json'):
            json.dump(coarse, open(m, 'w'))
        out = tmp_path / f'{osp.basename(m)}.png'
        proc = _run(['demo/inference_img.py', '--img', img_path, '--masks',
                     str(tmp_path / m) if not osp.isabs(m) else m, '--config', TINY_CONFIG,
                     '--checkpoint', 'none', '--patch-size', '32', '--out', str(out)])
        assert proc.returncode == 0, proc.stderr
        assert cv2.imread(str(out)) is not None
    cv2.imwrite(str(tmp_path / 'small.png'), np.ones((10, 10), np.uint8))
    np.save(tmp_path / 'empty.npy', np.zeros((0, h, w), bool))
    (tmp_path / 'zero.jpg').write_bytes(b'')
    (tmp_path / 'zero.png').write_bytes(b'')
    for args, needle in (
            (['--img', 'missing.jpg', '--masks', 'm.npy'], 'missing.jpg: image file not found'),
            (['--img', str(tmp_path / 'zero.jpg'), '--masks', 'm.npy'],
             'zero.jpg: empty file, not an image'),
            (['--img', img_path, '--masks', str(tmp_path / 'zero.png')],
             'zero.png: empty file, not an image'),
            (['--img', img_path, '--masks', str(tmp_path / 'small.png')], 'small.png'),
            (['--img', img_path, '--masks', str(tmp_path / 'empty.npy')], 'no instance masks'),
            (['--img', img_path, '--masks', str(tmp_path / 'm.npy'), '--out', img_path],
             'output would overwrite the input')):
        proc = _run(['demo/inference_img.py', *args, '--config', TINY_CONFIG, '--checkpoint',
                     'none'])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and needle in lines[0], proc.stderr
    # no --checkpoint is the project's model, whatever the config: another network refuses it
    # rather than running random weights
    proc = _run(['demo/inference_img.py', '--img', img_path, '--masks', str(tmp_path / 'm.npy'),
                 '--config', osp.join(ROOT, 'configs/bpr/hrnet48_256.py'),
                 '--out', str(tmp_path / 'large.png')])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert 'not a checkpoint of this model' in lines[0] and not (tmp_path / 'large.png').exists()


def test_demo_script_honours_min_size(coco, tmp_path):
    img, coarse, info = _image_and_masks(coco)
    json.dump(coarse, open(tmp_path / 'masks.json', 'w'))

    def patch_pixels(min_size):  # white box pixels on the coarse side, below its label
        out = tmp_path / f'min{min_size}.png'
        proc = _run(['demo/inference_img.py', '--img', osp.join(coco['img_dir'], info['file_name']),
                     '--masks', str(tmp_path / 'masks.json'), '--config', TINY_CONFIG,
                     '--checkpoint', 'none', '--patch-size', '16', '--min-size', str(min_size),
                     '--out', str(out)])
        assert proc.returncode == 0, proc.stderr
        left = cv2.imread(str(out))[30:, :img.shape[1]]
        return int(np.all(left == 255, axis=2).sum())

    assert patch_pixels(0) > 0
    assert patch_pixels(100000) == 0  # no instance refined, no patch drawn


def test_notebook_executes(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(osp.join(ROOT, 'demo', 'inference_img.ipynb'), as_version=4)
    assert all(not c.get('outputs') for c in nb.cells if c.cell_type == 'code'), \
        'outputs must be stripped in git'
    NotebookClient(nb, timeout=600, kernel_name='python3',
                   resources={'metadata': {'path': str(tmp_path)}}).execute()
    images = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs
              if 'image/png' in o.get('data', {})]
    assert images


def test_perturbations_of_coarse_masks():
    from bpr.core.coarse import perturb
    mask = np.zeros((120, 160), bool)
    mask[30:90, 40:120] = True
    mask[60:62, 120:150] = True  # a 2-px thin part
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    thinned = perturb(mask, rng(), thin=5)
    assert not thinned[60:62, 125:150].any() and thinned[35:85, 45:115].all()
    areas = {int(perturb(mask, np.random.default_rng(s), morph=4).sum()) for s in range(12)}
    assert min(areas) < mask.sum() < max(areas)  # eroded and dilated
    wavy = perturb(mask, rng(), noise=2.0)
    assert wavy.sum() != mask.sum() and (wavy != mask).sum() < 0.15 * mask.sum()
    assert np.array_equal(wavy, perturb(mask, rng(), noise=2.0))
    assert perturb(np.zeros((5, 5), bool), rng(), morph=3).sum() == 0
    tiny = np.zeros((20, 20), bool)
    tiny[9, 9] = True
    assert np.array_equal(perturb(tiny, rng(), thin=5), tiny)  # never emptied


def test_make_coarse_perturbations_leave_other_draws_alone(coco):
    gt = json.load(open(coco['gt']))
    plain = make_coarse(gt, grid=8, seed=3)
    varied = make_coarse(gt, grid=8, seed=3, morph=2, noise=1.0, thin=3)
    assert [r['score'] for r in plain] == [r['score'] for r in varied]
    assert [r['segmentation'] for r in plain] != [r['segmentation'] for r in varied]
