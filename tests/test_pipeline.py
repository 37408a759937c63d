"""In-memory refinement of COCO-form results, the on-disk path, and bad input."""
import json
import os
import os.path as osp
import pickle
import re
import shutil
import subprocess
import sys

import cv2
import mmcv
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from PIL import Image

from bpr.apis import init_refiner
from bpr.apis.coco import refine_coco_file
from bpr.apis.patch_dataset import merge_patches
from bpr.core import PatchConfig, encode
from bpr.core.io import InputError, image_size
from helpers import ROOT, TINY_CONFIG, random_checkpoint

CFG = PatchConfig(32, 0, 0.25)


@pytest.fixture(scope='module')
def model():
    return init_refiner(TINY_CONFIG, 'none', device='cpu')


def _identity_run(model, img_patches, mask_patches, batch_size=None):
    """Stands in for the network: each coarse-mask patch is its own probability."""
    return mask_patches.astype(np.float32)


def test_identity_network_reproduces_every_instance(coco, model, tmp_path, monkeypatch):
    import bpr.apis.inference as inference_api
    monkeypatch.setattr(inference_api, 'run_patches', _identity_run)
    out = str(tmp_path / 'refined.json')
    refined = refine_coco_file(model, coco['coarse'], out, coco['gt'], coco['img_dir'], CFG,
                               progress=False)
    coarse = json.load(open(coco['coarse']))
    assert json.load(open(out)) == refined
    assert len(refined) == len(coarse)
    for a, b in zip(coarse, refined):
        assert {k: v for k, v in a.items() if k != 'segmentation'} == \
            {k: v for k, v in b.items() if k != 'segmentation'}
        assert np.array_equal(mask_utils.decode(a['segmentation']),
                              mask_utils.decode(b['segmentation']))


def test_network_changes_masks_but_keeps_order_and_fields(coco, model, tmp_path):
    out = str(tmp_path / 'refined.json')
    refined = refine_coco_file(model, coco['coarse'], out, coco['gt'], coco['img_dir'], CFG,
                               progress=False)
    coarse = json.load(open(coco['coarse']))
    assert [r['extra'] for r in refined] == [c['extra'] for c in coarse]
    assert [r['score'] for r in refined] == [c['score'] for c in coarse]
    assert any(r['segmentation'] != c['segmentation'] for r, c in zip(refined, coarse))
    for r, c in zip(refined, coarse):
        assert r['segmentation']['size'] == c['segmentation']['size']
        assert isinstance(r['segmentation']['counts'], str)


def test_polygon_input_is_accepted(coco, model, tmp_path):
    coarse = json.load(open(coco['coarse']))
    gt = json.load(open(coco['gt']))
    h, w = gt['images'][0]['height'], gt['images'][0]['width']
    first = next(i for i, c in enumerate(coarse) if c['image_id'] == gt['images'][0]['id'])
    coarse[first]['segmentation'] = [[10.0, 10.0, 60.0, 12.0, 50.0, 70.0, 12.0, 60.0]]
    path = str(tmp_path / 'poly.json')
    json.dump(coarse, open(path, 'w'))
    refined = refine_coco_file(model, path, str(tmp_path / 'o.json'), coco['gt'],
                               coco['img_dir'], CFG, progress=False)
    assert refined[first]['segmentation']['size'] == [h, w]
    assert len(refined) == len(coarse)


def test_lvis_images_are_found_by_their_coco_url(coco, model, tmp_path):
    # LVIS's images have a coco_url and no file_name; the images lie in the COCO root's split
    gt = json.load(open(coco['gt']))
    os.makedirs(tmp_path / 'val2017')
    for img in gt['images']:
        shutil.copy(osp.join(coco['img_dir'], img['file_name']), tmp_path / 'val2017')
        img['coco_url'] = f'http://images.cocodataset.org/val2017/{img.pop("file_name")}'
    lvis = str(tmp_path / 'lvis.json')
    json.dump(gt, open(lvis, 'w'))
    refined = refine_coco_file(model, coco['coarse'], str(tmp_path / 'o.json'), lvis,
                               str(tmp_path), CFG, progress=False)
    assert refined == refine_coco_file(model, coco['coarse'], str(tmp_path / 'c.json'),
                                       coco['gt'], coco['img_dir'], CFG, progress=False)
    gt['images'][1]['coco_url'] = 'http://images.cocodataset.org/../img_1.png'
    json.dump(gt, open(lvis, 'w'))
    with pytest.raises(InputError, match=re.escape(
            "images[1] has coco_url 'http://images.cocodataset.org/../img_1.png', not "
            ".../split/name")):
        refine_coco_file(model, coco['coarse'], str(tmp_path / 'x.json'), lvis,
                         str(tmp_path), CFG, progress=False)


def _bad_inputs(coco, tmp_path):
    coarse = json.load(open(coco['coarse']))
    gt = json.load(open(coco['gt']))
    cases = {}
    p = tmp_path / 'invalid.json'
    p.write_text('[{"image_id": 1,')
    cases['not valid JSON'] = (str(p), coco['gt'], coco['img_dir'])
    bad = [dict(c) for c in coarse]
    bad[1]['image_id'] = 999
    p = tmp_path / 'bad_id.json'
    json.dump(bad, open(p, 'w'))
    cases['image_id 999'] = (str(p), coco['gt'], coco['img_dir'])
    bad = [dict(c) for c in coarse]
    bad[0]['segmentation'] = dict(bad[0]['segmentation'], size=[5, 5])
    p = tmp_path / 'bad_size.json'
    json.dump(bad, open(p, 'w'))
    cases['RLE size'] = (str(p), coco['gt'], coco['img_dir'])
    gt2 = json.loads(json.dumps(gt))
    gt2['images'][0]['file_name'] = 'missing.png'
    p = tmp_path / 'gt_missing.json'
    json.dump(gt2, open(p, 'w'))
    cases['missing.png'] = (coco['coarse'], str(p), coco['img_dir'])
    cases['nothere.json'] = (str(tmp_path / 'nothere.json'), coco['gt'], coco['img_dir'])
    h, w = gt['images'][0]['height'], gt['images'][0]['width']
    for k, (needle, field, value) in enumerate([
            ('polygon [0] is not a list of at least 3 numeric', 'segmentation', [[1, 2, 3, 4]]),
            ('(image img_0.png): polygon [0] is not', 'segmentation', [[1, 2, 'a', 4, 5, 6]]),
            ("RLE size ['a', 'b'] is not [height, width]", 'segmentation',
             dict(size=['a', 'b'], counts='00')),
            ('RLE has negative run lengths', 'segmentation',
             dict(size=[h, w], counts=[h * w + 5, -5])),
            (f'RLE run lengths sum to 10, not {h}x{w}', 'segmentation',
             dict(size=[h, w], counts=[10])),
            ('RLE counts string is malformed', 'segmentation',
             dict(size=[h, w], counts=encode(np.ones((h, w), bool))['counts'][:-1] + 'o')),
            ('RLE run lengths sum to 30,', 'segmentation', dict(size=[h, w], counts='3k0')),
            ("image_id [1], not an id", 'image_id', [1])]):
        bad = [dict(c) for c in coarse]
        bad[0][field] = value
        p = tmp_path / f'bad_segm_{k}.json'
        json.dump(bad, open(p, 'w'))
        cases[needle] = (str(p), coco['gt'], coco['img_dir'])
    # image files that exist but are not what the ground truth says: caught from the headers

    def cut(path, fmt):
        data = cv2.imencode(fmt, np.zeros((gt['images'][-1]['height'],
                                           gt['images'][-1]['width'], 3), np.uint8) + 99)[1]
        open(path, 'wb').write(data.tobytes()[:len(data) * 2 // 3])

    for label, problem, write in [
            ('gif', 'not a readable image', lambda p: open(p, 'wb').write(b'GIF8')),
            ('small', 'image of size 9x7', lambda p: cv2.imwrite(p, np.zeros((9, 7)))),
            ('empty', 'not a readable image (cannot identify', lambda p: open(p, 'wb').close()),
            ('png', 'truncated PNG', lambda p: cut(p, '.png')),
            ('jpg', 'truncated JPEG', lambda p: cut(p, '.jpg'))]:
        img_dir = tmp_path / label
        shutil.copytree(coco['img_dir'], img_dir, ignore=shutil.ignore_patterns('*.json'))
        victim = gt['images'][-1]['file_name']
        write(str(img_dir / victim))
        cases[f'{victim}: {problem}'] = (coco['coarse'], coco['gt'], str(img_dir))
    return cases


def test_bad_inputs_raise_clear_errors_and_write_nothing(coco, model, tmp_path):
    for needle, (coarse, gt, img_dir) in _bad_inputs(coco, tmp_path).items():
        out = tmp_path / 'out' / 'refined.json'
        with pytest.raises(InputError, match=re.escape(needle)):
            refine_coco_file(model, coarse, str(out), gt, img_dir, CFG, progress=False)
        assert not out.exists()


def test_bad_inputs_through_the_cli(coco, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    for needle, (coarse, gt, img_dir) in _bad_inputs(coco, tmp_path).items():
        out = tmp_path / 'cli' / 'refined.json'
        proc = subprocess.run(
            [sys.executable, osp.join(ROOT, 'tools/refine_coco.py'), TINY_CONFIG, 'none',
             coarse, str(out), '--img-dir', img_dir, '--gt-json', gt, '--device', 'cpu'],
            capture_output=True, text=True, env=env)
        assert proc.returncode == 1
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error: ') and needle in lines[0], \
            proc.stderr
        assert not out.parent.exists() or not os.listdir(out.parent)


@pytest.mark.parametrize('tool, option, value, expected', [
    ('tools/refine_coco.py', '--patch-size', '0', "'0': expected an integer >= 2"),
    ('tools/refine_coco.py', '--iou-thresh', '0', "'0': expected a number in (0, 1]"),
    ('tools/refine_coco.py', '--min-size', '-5', "'-5': expected an integer >= 0"),
    ('tools/refine_coco.py', '--min-part', '-1', "'-1': expected an integer >= 0"),
    ('tools/refine_coco.py', '--patch-ratio', '2', "'2': expected a number in [0, 1]"),
    ('tools/upper_bound.py', '--patch-ratio', 'x', "'x': expected a number in [0, 1]"),
    ('tools/merge_patches.py', '--min-part', 'ten', "'ten': expected an integer >= 0"),
    ('tools/refine_coco.py', '--batch-size', '0', "'0': expected an integer >= 1"),
    ('tools/refine_coco.py', '--workers', 'two', "'two': expected an integer >= 0"),
    ('tools/visualize.py', '--patch-size', '1', "'1': expected an integer >= 2"),
    ('tools/visualize.py', '--num', '0', "'0': expected an integer >= 1"),
    ('tools/upper_bound.py', '--padding', '-2', "'-2': expected an integer >= 0"),
    ('tools/split_patches.py', '--iou-thresh', '2', "'2': expected a number in (0, 1]"),
    ('tools/split_patches.py', '--num-proc', '0', "'0': expected an integer >= 1"),
    ('tools/make_coarse.py', '--grid', '0', "'0': expected an integer >= 1"),
    ('tools/make_coarse.py', '--drop', '1.5', "'1.5': expected a number in [0, 1]"),
    ('tools/make_coarse.py', '--noise', '-1', "'-1': expected a number >= 0"),
    ('tools/filter.py', '--iou-thresh', '-0.5', "'-0.5': expected a number in [0, 1]"),
    ('tools/publish_model.py', '--bn-patches', '0', "'0': expected an integer >= 1"),
])
def test_numeric_options_out_of_range_are_usage_errors(coco, tmp_path, tool, option, value,
                                                        expected):
    out = str(tmp_path / 'out' / 'result')
    args = {'tools/refine_coco.py': [TINY_CONFIG, 'none', coco['coarse'], out, '--img-dir',
                                     coco['img_dir'], '--gt-json', coco['gt']],
            'tools/visualize.py': [coco['gt'], coco['img_dir'], coco['coarse'], coco['coarse'],
                                   out],
            'tools/upper_bound.py': [coco['coarse'], coco['gt'], out],
            'tools/split_patches.py': [coco['coarse'], coco['gt'], coco['img_dir'], out],
            'tools/make_coarse.py': [coco['gt'], out],
            'tools/filter.py': [coco['coarse'], coco['gt'], out],
            'tools/publish_model.py': [coco['coarse'], out],
            'tools/merge_patches.py': [coco['coarse'], coco['gt'], coco['coarse'], coco['img_dir'],
                                       out]}
    proc = subprocess.run([sys.executable, osp.join(ROOT, tool)] + args[tool] + [option, value],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(f'argument {option}: {expected}'), \
        proc.stderr
    assert not (tmp_path / 'out').exists()


def test_on_disk_path_matches_in_memory_path(coco, patches, model, tmp_path):
    """test.py's per-patch outputs merged back == the in-memory refinement (identity net)."""
    from mmseg.datasets import build_dataset
    import mmcv
    cfg = mmcv.Config.fromfile(TINY_CONFIG)
    cfg.data.test.data_root = patches
    ds = build_dataset(cfg.data.test, dict(test_mode=True))
    # identity "network" on the dataset: its coarse-mask patches
    probs = [(mmcv.imread(osp.join(patches, 'mask_dir', 'val', info['filename']),
                          'unchanged') > 127).astype(np.float32) for info in ds.img_infos]
    pkl = str(tmp_path / 'probs.pkl')
    pickle.dump(probs, open(pkl, 'wb'))
    merged = merge_patches(coco['coarse'], coco['gt'], pkl, patches, str(tmp_path / 'm.json'),
                           progress=False)
    coarse = json.load(open(coco['coarse']))
    assert len(merged) == len(coarse)
    for a, b in zip(coarse, merged):
        assert np.array_equal(mask_utils.decode(a['segmentation']),
                              mask_utils.decode(b['segmentation']))
        assert a['extra'] == b['extra']


FLIP = 'data.test.pipeline.2.flip'


@pytest.mark.parametrize('options', [{}, {FLIP: True},
                                     {FLIP: True, 'data.test.pipeline.2.img_ratios': [0.75, 1.0],
                                      'data.test.pipeline.2.flip_direction':
                                      ['horizontal', 'vertical']}])
def test_in_memory_network_matches_stock_test_pipeline(patches, tmp_path, options):
    """run_patches == mmseg's pipeline + forward_test (aug_test for flips and scales)."""
    import mmcv
    from bpr.apis import run_patches
    from bpr.apis.test import run_test
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    stock, _ = run_test(TINY_CONFIG, ckpt, cfg_options=dict(options, **{
        'data.test.data_root': patches}), device='cpu', progress=False)
    model = init_refiner(TINY_CONFIG, ckpt, 'cpu', cfg_options=options)
    names = sorted(os.listdir(osp.join(patches, 'img_dir', 'val')))
    imgs = np.stack([mmcv.imread(osp.join(patches, 'img_dir', 'val', n)) for n in names])
    masks = np.stack([mmcv.imread(osp.join(patches, 'mask_dir', 'val', n), 'unchanged') > 127
                      for n in names])
    ours = run_patches(model, imgs, masks, batch_size=7)
    # the dataset lists its patches sorted by name
    assert len(stock) == len(ours) == len(names)
    diff = np.abs(np.stack(stock) - ours)
    # the stock pipeline rounds the resized image to uint8, the in-memory path does not
    assert diff.max() < 2e-3, diff.max()
    if options:
        plain = run_patches(init_refiner(TINY_CONFIG, ckpt, 'cpu'), imgs, masks)
        assert np.abs(plain - ours).max() > 20 * diff.max()


def test_patches_per_forward_default_to_the_device(model, monkeypatch):
    """16 patches per forward pass on the CPU (256 on a GPU); the same probabilities as one
    batch of all."""
    from bpr.apis import run_patches
    from bpr.apis.inference import default_batch_size
    assert default_batch_size('cpu') == 16 and default_batch_size('cuda:1') == 256
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    masks = rng.random((40, 32, 32)) > 0.5
    batches = []
    inference = model.inference
    monkeypatch.setattr(model, 'inference', lambda img, *a, **kw: (
        batches.append(len(img)), inference(img, *a, **kw))[1])
    probs = run_patches(model, imgs, masks)
    assert batches == [16, 16, 8]
    assert np.allclose(probs, run_patches(model, imgs, masks, batch_size=40), atol=1e-5)


def test_out_of_gpu_memory_halves_the_patches_per_pass(monkeypatch):
    """A pass that runs out of GPU memory is run again at half the patches, down to what
    fits, with the same probabilities; the model keeps the limit; one patch that does not fit
    is the error it was."""
    from bpr.apis import run_patches
    model = init_refiner(TINY_CONFIG, 'none', device='cpu')
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)
    masks = rng.random((40, 32, 32)) > 0.5
    expected = run_patches(model, imgs, masks, batch_size=40)
    fits, batches = [8], []
    inference = model.inference

    def limited(img, *args, **kwargs):
        batches.append(len(img))
        if len(img) > fits[0]:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory (simulated)')
        return inference(img, *args, **kwargs)

    monkeypatch.setattr(model, 'inference', limited)
    with pytest.warns(UserWarning, match='out of GPU memory') as record:
        probs = run_patches(model, imgs, masks, batch_size=32)
    assert [re.search(r'at (\d+) patches .* with (\d+)', str(w.message)).groups()
            for w in record if 'out of GPU memory' in str(w.message)] == [('32', '16'),
                                                                          ('16', '8')]
    assert batches == [32, 16, 8, 8, 8, 8, 8] and model.max_patches_per_pass == 8
    assert np.allclose(probs, expected, atol=1e-5)
    batches.clear()
    run_patches(model, imgs[:20], masks[:20], batch_size=32)  # the limit holds
    assert batches == [8, 8, 4]
    fits[0] = 0
    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_patches(model, imgs[:2], masks[:2], batch_size=1)


def test_patch_dataset_test_runs_the_devices_batch(patches, tmp_path, monkeypatch):
    """tools/test.py's path: 16 patches per forward on the CPU unless told (the stock tools
    take 1); the same probabilities either way."""
    import bpr.apis.test as test_api
    batches = []
    build = test_api.build_dataloader
    monkeypatch.setattr(test_api, 'build_dataloader', lambda *a, **kw: (
        batches.append(kw['samples_per_gpu']), build(*a, **kw))[1])
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    options = {'data.test.data_root': patches}
    ours, _ = test_api.run_test(TINY_CONFIG, ckpt, cfg_options=options, device='cpu',
                                progress=False)
    one, _ = test_api.run_test(TINY_CONFIG, ckpt, cfg_options=options, device='cpu',
                               batch_size=1, progress=False)
    assert batches == [16, 1] and len(ours) == len(one) > 16
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(ours, one))


def test_patch_dataset_test_splits_a_batch_the_gpu_cannot_hold(patches, tmp_path,
                                                              monkeypatch):
    """tools/test.py's path: a loader batch that runs out of GPU memory is run in parts,
    with the same outputs, in order."""
    from bpr.apis.test import run_test
    from bpr.models import EncoderDecoderRefine
    ckpt = random_checkpoint(str(tmp_path / 'w.pth'))
    options = {'data.test.data_root': patches}
    expected, _ = run_test(TINY_CONFIG, ckpt, cfg_options=options, device='cpu',
                           progress=False)
    sizes = []
    inference = EncoderDecoderRefine.inference

    def limited(self, img, *args, **kwargs):
        sizes.append(len(img))
        if len(img) > 5:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory (simulated)')
        return inference(self, img, *args, **kwargs)

    monkeypatch.setattr(EncoderDecoderRefine, 'inference', limited)
    with pytest.warns(UserWarning, match='out of GPU memory') as record:
        ours, _ = run_test(TINY_CONFIG, ckpt, cfg_options=options, device='cpu',
                           progress=False)
    assert [re.search(r'at (\d+) patches .* with (\d+)', str(w.message)).groups()
            for w in record if 'out of GPU memory' in str(w.message)] == [('16', '8'),
                                                                          ('8', '4')]
    assert sizes[:4] == [16, 8, 4, 4] and max(sizes[3:]) == 4
    assert len(ours) == len(expected) > 16
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(ours, expected))


@pytest.mark.parametrize('orientation', [1, 6])
def test_image_size_from_header_is_the_decoded_size(tmp_path, orientation):
    """The up-front check reads sizes as mmcv will decode them (EXIF rotation included)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = str(tmp_path / 'photo.jpg')
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path, exif=exif.tobytes())
    assert image_size(path) == mmcv.imread(path, 'color').shape[:2]
    assert image_size(path) == ((60, 40) if orientation == 6 else (40, 60))


def test_image_size_of_a_format_only_opencv_reads(tmp_path):
    path = str(tmp_path / 'radiance.hdr')
    cv2.imwrite(path, np.ones((5, 7, 3), np.float32))
    assert image_size(path) == (5, 7)


def test_loader_workers_give_the_same_results(coco, model, tmp_path):
    """Images prepared by loader processes ahead of the network, and pasted in a process of
    its own (in a thread without loaders): same output, same order; bad input found by a
    worker is still one InputError."""
    outs = [refine_coco_file(model, coco['coarse'], str(tmp_path / f'w{w}.json'), coco['gt'],
                             coco['img_dir'], CFG, progress=False, workers=w) for w in (0, 2)]
    assert outs[0] == outs[1]
    img_dir = tmp_path / 'imgs'
    shutil.copytree(coco['img_dir'], img_dir, ignore=shutil.ignore_patterns('*.json'))
    gt = json.load(open(coco['gt']))
    # decodes to another size than its header says: found only when a worker reads it
    victim = img_dir / gt['images'][1]['file_name']
    monkey = cv2.imread(str(victim))
    cv2.imwrite(str(victim), monkey)
    from bpr.apis.coco import refine_results
    gt['images'][1]['height'] += 1
    with pytest.raises(InputError, match=r'img_1.png: not of the size 81x80'):
        refine_results(model, json.load(open(coco['coarse'])), gt, str(img_dir), CFG,
                       progress=False, workers=2)
