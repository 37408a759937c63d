"""Mask AP and boundary AP on cases whose values are known by construction."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from bpr.core import encode
from bpr.evaluation import ap_per_threshold, coco_mask_metrics, mask_to_boundary
from helpers import ROOT, random_masks


def _gt(masks, h=120, w=160):
    anns = [dict(id=i + 1, image_id=1, category_id=1, iscrowd=0, segmentation=encode(m),
                 area=int(m.sum()), bbox=[0, 0, w, h]) for i, m in enumerate(masks)]
    return dict(images=[dict(id=1, file_name='a.png', height=h, width=w)], annotations=anns,
                categories=[dict(id=1, name='thing')])


def _box(y1, y2, x1, x2, h=120, w=160):
    m = np.zeros((h, w), bool)
    m[y1:y2, x1:x2] = True
    return m


def test_mask_to_boundary_is_an_inner_band():
    m = _box(20, 100, 30, 130)
    d = int(round(0.02 * np.hypot(120, 160)))  # 4 px
    b = mask_to_boundary(m)
    assert b[20, 60] and b[20 + d - 1, 60] and not b[20 + d, 60]
    assert not b[m == 0].any()


def _reference_boundary(mask, dilation_ratio=0.02):
    """Boundary IoU's reference code: d erosions by 3x3 of the zero-padded full mask."""
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h * h + w * w))))
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:h + 1, 1:w + 1]
    return mask.astype(bool) & ~eroded.astype(bool)


@pytest.mark.parametrize('seed', range(3))
def test_mask_to_boundary_equals_the_reference(seed):
    """Same band as the reference, for blobs inside, across and beyond the image border,
    speckle, empty masks, C- or Fortran-ordered input, with or without the box given."""
    for m in random_masks(seed, 40):
        m = (m != 0).astype(np.uint8)
        for ratio in (0.005, 0.02, 0.1):
            ref = _reference_boundary(m, ratio)
            assert np.array_equal(mask_to_boundary(m.astype(bool), ratio), ref)
            rle = mask_utils.encode(np.asfortranarray(m))
            band = mask_to_boundary(mask_utils.decode(rle), ratio, mask_utils.toBbox(rle))
            assert band.flags.f_contiguous and np.array_equal(band, ref)


def test_perfect_results_score_100():
    masks = [_box(20, 100, 30, 70), _box(10, 60, 90, 150)]
    res = [dict(image_id=1, category_id=1, score=0.9, segmentation=encode(m)) for m in masks]
    metrics = coco_mask_metrics(_gt(masks), res)
    for key in ('AP', 'AP50', 'AP75', 'bAP', 'bAP50', 'bAP75'):
        assert metrics[key] == pytest.approx(100.0)


def test_shifted_mask_hurts_boundary_ap_more_than_mask_ap():
    gt = [_box(10, 110, 20, 140)]
    shifted = [_box(13, 113, 23, 143)]  # 3 px: mask IoU ~0.9, boundary IoU much lower
    res = [dict(image_id=1, category_id=1, score=0.9, segmentation=encode(m)) for m in shifted]
    metrics = coco_mask_metrics(_gt(gt), res)
    assert metrics['AP50'] == pytest.approx(100.0)
    assert metrics['bAP'] < metrics['AP'] - 20


def test_ap_per_threshold_averages_to_ap_and_bap():
    """Two objects, one segmented exactly and one a pixel too large all around: boundary AP
    is lost at the high thresholds, not at 0.5, and the ten values average to bAP (AP)."""
    gt = [_box(10, 110, 20, 80), _box(10, 110, 100, 150)]
    res_masks = [gt[0], _box(9, 111, 99, 151)]
    res = [dict(image_id=1, category_id=1, score=s, segmentation=encode(m))
           for s, m in zip((0.9, 0.8), res_masks)]
    metrics = coco_mask_metrics(_gt(gt), res)
    b_ap, ap = ap_per_threshold(_gt(gt), res), ap_per_threshold(_gt(gt), res, boundary=False)
    assert b_ap.shape == ap.shape == (10,)
    assert b_ap.mean() == pytest.approx(metrics['bAP']) and ap.mean() == pytest.approx(
        metrics['AP'])
    assert b_ap[0] == pytest.approx(100) and b_ap[-1] < 100 and np.all(np.diff(b_ap) <= 0)
    assert np.all(b_ap <= ap)
    assert np.array_equal(ap_per_threshold(_gt(gt), []), np.zeros(10))


def test_instance_ious_pair_each_result_with_its_object():
    gt = [_box(10, 110, 20, 80), _box(10, 110, 100, 150)]
    # in result order: a perfect copy of the second object, a 3-px shift of the first, and a
    # mask that touches no object
    res_masks = [gt[1], _box(13, 113, 23, 83), _box(112, 118, 85, 95)]
    res = [dict(image_id=1, category_id=1, score=0.9, segmentation=encode(m))
           for m in res_masks]
    metrics = coco_mask_metrics(_gt(gt), res)
    shifted_iou = (97 * 57) / (100 * 60 * 2 - 97 * 57)
    assert metrics['mIoU'] == pytest.approx(100 * (1 + shifted_iou + 0) / 3)
    # the shift moves the whole boundary band: its boundary IoU falls far below its mask IoU
    assert metrics['mBIoU'] < metrics['mIoU'] - 10
    perfect = coco_mask_metrics(_gt(gt), [dict(r, segmentation=encode(m))
                                          for r, m in zip(res, gt)])
    assert perfect['mIoU'] == pytest.approx(100.0) and perfect['mBIoU'] == pytest.approx(100.0)


def test_eval_cli_prints_side_by_side(tmp_path):
    masks = [_box(20, 100, 30, 70)]
    gt_path = tmp_path / 'gt.json'
    json.dump(_gt(masks), open(gt_path, 'w'))
    files = []
    for name, m in (('good.json', masks[0]), ('bad.json', _box(24, 104, 34, 74))):
        json.dump([dict(image_id=1, category_id=1, score=1.0, segmentation=encode(m))],
                  open(tmp_path / name, 'w'))
        files.append(str(tmp_path / name))
    out = tmp_path / 'm.json'
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/eval.py'), str(gt_path),
                           *files, '--out', str(out)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert 'good.json' in header and 'bad.json' in header
    metrics = json.load(open(out))
    assert metrics['good.json']['bAP'] == pytest.approx(100.0)
    assert metrics['bad.json']['bAP'] < metrics['good.json']['bAP']
    assert 'LVIS' not in proc.stderr
    # LVIS's federated ground truth: the same figures, with a note that they are COCO's
    lvis = _gt(masks)
    lvis['images'][0].update(neg_category_ids=[2], not_exhaustive_category_ids=[])
    json.dump(lvis, open(gt_path, 'w'))
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/eval.py'), str(gt_path),
                           *files], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f'note: {gt_path} is LVIS ground truth: these are COCO figures, every category counted '
        "in every image; LVIS's own AP is federated (lvis-api)")
    assert proc.stdout.splitlines()[0] == header


def test_upper_bound_improves_and_keeps_everything(coco):
    from bpr.core import PatchConfig
    from bpr.evaluation import upper_bound_results
    gt, coarse = json.load(open(coco['gt'])), json.load(open(coco['coarse']))
    bound = upper_bound_results(coarse, gt, PatchConfig(32, 0, 0.25))
    assert [b['extra'] for b in bound] == [c['extra'] for c in coarse]
    m_coarse = coco_mask_metrics(gt, coarse)
    m_bound = coco_mask_metrics(gt, bound)
    assert m_bound['bAP'] > m_coarse['bAP'] and m_bound['AP'] >= m_coarse['AP']


def test_boundary_band_matches_score_and_grows():
    from bpr.core import boundary_score
    from bpr.evaluation import boundary_band
    mask = np.zeros((40, 50), bool)
    mask[5:30, 0:20] = True  # touches the left image border
    assert np.array_equal(boundary_band(mask, 1), boundary_score(mask) > 0)
    b2 = boundary_band(mask, 2)
    assert b2[5:30, 21].all() and not boundary_band(mask, 1)[5:30, 21].any()
    assert not b2[5:30, 22].any()
    assert b2[15, 0:2].all()  # the image border counts as background
    assert not b2[15, 10] and b2.sum() > boundary_band(mask, 1).sum()


def test_band_upper_bound_grows_with_the_band(coco):
    from bpr.evaluation import upper_bound_results
    gt, coarse = json.load(open(coco['gt'])), json.load(open(coco['coarse']))
    m_coarse = coco_mask_metrics(gt, coarse)
    prev = None
    for band in (1, 3):
        bound = upper_bound_results(coarse, gt, band=band)
        assert [b['extra'] for b in bound] == [c['extra'] for c in coarse]
        miou = coco_mask_metrics(gt, bound)['mIoU']
        assert miou > m_coarse['mIoU'] and (prev is None or miou > prev)
        prev = miou
    # a band wider than the image is the ground truth itself
    assert coco_mask_metrics(gt, upper_bound_results(coarse, gt, band=500))['AP'] == \
        pytest.approx(100.0)


def test_upper_bound_cli_options(coco, tmp_path):
    from bpr.core import PatchConfig
    from bpr.evaluation import upper_bound_results
    gt, coarse = json.load(open(coco['gt'])), json.load(open(coco['coarse']))
    tool = [sys.executable, osp.join(ROOT, 'tools/upper_bound.py'), coco['coarse'], coco['gt']]
    for opts, kwargs in [(['--band', '2'], dict(band=2)),
                         (['--patch-size', '32', '--sampling', 'grid'],
                          dict(cfg=PatchConfig(32, sampling='grid'))),
                         (['--stride', '4'], dict(stride=4)),
                         (['--stride', '2', '--padding', '1'],
                          dict(cfg=PatchConfig(padding=1), stride=2))]:
        out = str(tmp_path / 'u.json')
        proc = subprocess.run(tool + [out] + opts, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert json.load(open(out)) == upper_bound_results(coarse, gt, **kwargs)
    proc = subprocess.run(tool + [str(tmp_path / 'v.json'), '--band', '0'],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and '--band' in proc.stderr
    for opts in (['--stride', '3'], ['--stride', '4', '--padding', '1']):
        proc = subprocess.run(tool + [str(tmp_path / 'v.json')] + opts, capture_output=True,
                              text=True)
        assert proc.returncode != 0 and '--stride' in proc.stderr
    assert not (tmp_path / 'v.json').exists()
    # --checkpoint: the NMS threshold and patch size the checkpoint refines with (its meta)
    import torch
    ckpt = str(tmp_path / 'own.pth')
    torch.save(dict(meta=dict(iou_thresh=0.55, patch_size=4), state_dict={}), ckpt)
    own = upper_bound_results(coarse, gt, PatchConfig(4, iou_thresh=0.55))
    assert own != upper_bound_results(coarse, gt, PatchConfig(iou_thresh=0.55))
    for opts, expected in [(['--checkpoint', ckpt], own),
                           (['--checkpoint', ckpt, '--iou-thresh', '0.25'],
                            upper_bound_results(coarse, gt, PatchConfig(4, iou_thresh=0.25))),
                           (['--checkpoint', ckpt, '--patch-size', '32'],
                            upper_bound_results(coarse, gt, PatchConfig(32, iou_thresh=0.55)))]:
        out = str(tmp_path / 'c.json')
        proc = subprocess.run(tool + [out] + opts, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert json.load(open(out)) == expected


def test_at_stride_keeps_straight_edges_and_loses_thin_lines():
    from bpr.evaluation.upper_bound import at_stride
    patches = np.zeros((3, 64, 64), np.float32)
    patches[0, :, :32] = 1  # an edge on a cell border
    patches[1, :, :33] = 1  # and inside a cell
    patches[2, :, 40] = 1  # a 1-px line
    assert at_stride(patches, 1) is patches
    for stride in (2, 4):
        out = at_stride(patches, stride)
        assert out.shape == patches.shape and out.dtype == np.float32
        assert np.array_equal(out[:2] > 0.5, patches[:2] > 0.5)
        assert not (out[2] > 0.5).any()
    with pytest.raises(ValueError, match='multiple'):
        at_stride(patches, 3)


def test_upper_bound_at_a_coarser_stride_is_not_better(coco):
    from bpr.core import PatchConfig
    from bpr.evaluation import upper_bound_results
    gt, coarse = json.load(open(coco['gt'])), json.load(open(coco['coarse']))
    cfg = PatchConfig(32, 0, 0.25)
    full, coarser = (coco_mask_metrics(gt, upper_bound_results(coarse, gt, cfg, stride=s))
                     for s in (1, 8))
    assert coarser['mIoU'] < full['mIoU']


def _visualize(coco, out, *options, refined=None):
    return subprocess.run([sys.executable, osp.join(ROOT, 'tools/visualize.py'), coco['gt'],
                           coco['img_dir'], coco['coarse'], refined or coco['coarse'], str(out),
                           *options],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))


def test_visualize_tool_writes_pictures(coco, tmp_path):
    proc = _visualize(coco, tmp_path, '--gt', '--patch-size', '32')
    assert proc.returncode == 0, proc.stderr
    import cv2
    pics = sorted(os.listdir(tmp_path))
    assert len(pics) == 3
    pic = cv2.imread(str(tmp_path / pics[0]))
    assert pic.shape == (96, 2 * 128 + 8, 3)
    proc = _visualize(coco, tmp_path / 'crop', '--num', '1', '--crop')
    assert proc.returncode == 0, proc.stderr
    pic = cv2.imread(str(tmp_path / 'crop' / pics[0]))
    w = (pic.shape[1] - 8) // 2
    assert pic.shape[0] <= 96 and w <= 128 and np.all(pic[:, w:w + 8] == 255)


def test_cropped_pictures_keep_their_labels_and_the_gap():
    from bpr.core.visualize import instances_window, side_by_side
    img = np.full((120, 160, 3), 128, np.uint8)
    m = np.zeros((120, 160), bool)
    m[50:90, 70:130] = True
    assert instances_window([m]) == (50, 30, 150, 110)
    assert instances_window([m], margin=100) == (0, 0, 160, 120)
    assert instances_window([np.zeros_like(m)]) is None and instances_window([]) is None
    boxes = np.array([[60, 40, 92, 72], [140, 100, 172, 132]])  # the second crosses the window
    window = instances_window([m])
    pic = side_by_side(img, [m], [m], [m], boxes, window=window)
    x1, y1, x2, y2 = window
    w = x2 - x1
    assert pic.shape == (y2 - y1, 2 * w + 8, 3)
    assert np.all(pic[:, w:w + 8] == 255)
    for panel in (pic[:, :w], pic[:, w + 8:]):  # each label: white text on a black outline
        label = panel[8:28, 8:40]
        assert np.all(label == 255, axis=2).any() and np.all(label == 0, axis=2).any()
    # below the labels, cropping first draws what drawing first and cropping would
    full = side_by_side(img, [m], [m], [m], boxes)
    assert np.array_equal(pic[30:, :w], full[y1 + 30:y2, x1:x2])
    assert np.array_equal(pic[30:, w + 8:], full[y1 + 30:y2, 160 + 8 + x1:160 + 8 + x2])


def test_visualize_shows_the_patches_of_the_checkpoint(coco, tmp_path):
    import cv2
    import torch
    ckpt, bad = tmp_path / 'small.pth', tmp_path / 'bad.pth'
    torch.save(dict(meta=dict(min_size=10000), state_dict={}), ckpt)
    torch.save(dict(meta=dict(patch_size='big'), state_dict={}), bad)

    def white(options):  # white pixels on the coarse (left) side: the patch boxes
        out = tmp_path / f'pics{len(os.listdir(tmp_path))}'
        proc = _visualize(coco, out, '--num', '1', *options)
        assert proc.returncode == 0, proc.stderr
        pic = cv2.imread(str(out / os.listdir(out)[0]))
        return int(np.all(pic[:, :128] == 255, axis=2).sum())

    every = white(['--checkpoint', 'none'])
    assert white(['--checkpoint', str(ckpt)]) < every  # its min_size: no instance refined
    assert white(['--checkpoint', str(ckpt), '--min-size', '0']) == every
    proc = _visualize(coco, tmp_path / 'bad', '--checkpoint', str(bad))
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == \
        f"error: {bad}: invalid test setting in its meta: patch_size 'big' " \
        '(expected an integer >= 2)'
    assert not (tmp_path / 'bad').exists()


def test_boundary_fscore_known_values():
    from bpr.evaluation import boundary_fscore
    m = _box(20, 100, 30, 130)
    assert boundary_fscore(m, m, 1) == pytest.approx(1.0)
    shifted = _box(22, 102, 32, 132)  # 2 px off: within a 3 px tolerance, not within 1 px
    assert boundary_fscore(shifted, m, 3) == pytest.approx(1.0)
    assert boundary_fscore(shifted, m, 1) < 0.2
    assert boundary_fscore(np.zeros_like(m), m, 3) == 0.0


def test_af_perfect_and_shifted():
    gt = [_box(10, 110, 20, 140)]
    res = [dict(image_id=1, category_id=1, score=0.9, segmentation=encode(gt[0]))]
    assert coco_mask_metrics(_gt(gt), res, fscore=True)['AF'] == pytest.approx(100.0)
    res = [dict(image_id=1, category_id=1, score=0.9, segmentation=encode(_box(14, 114, 24,
                                                                                144)))]
    m = coco_mask_metrics(_gt(gt), res, fscore=True)
    assert m['AF'] < m['AP']


def test_af_overlaps_equal_full_image_fscores():
    """Pairs far apart are scored 0 without comparing them: the overlaps must equal the
    F-scores of the full masks for every pair, near (gaps around the tolerance) or far."""
    from pycocotools.coco import COCO
    from bpr.evaluation import boundary_fscore
    from bpr.evaluation.boundary import FScoreCOCOeval
    rng = np.random.default_rng(0)
    gts = [_box(10, 40, 10, 40), _box(60, 110, 100, 150)]
    # results 1 to 13 px right of the first GT box, one over the second, one empty, random
    res_masks = [_box(10, 40, 40 + g, 60 + g) for g in range(13)] + \
        [_box(58, 108, 97, 147), np.zeros((120, 160), bool)]
    res_masks += [_box(*sorted(rng.integers(0, 120, 2)), *sorted(rng.integers(0, 160, 2)))
                  for _ in range(10)]
    coco_gt = COCO()
    coco_gt.dataset = _gt(gts)
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes([dict(image_id=1, category_id=1, score=0.9,
                                    segmentation=encode(m)) for m in res_masks])
    evaluator = FScoreCOCOeval(coco_gt, coco_dt, tolerance_ratio=0.015)
    tol = int(np.ceil(0.015 * np.hypot(120, 160)))  # 3 px
    scores = evaluator.overlap(1, coco_dt.loadAnns(coco_dt.getAnnIds()),
                               coco_gt.loadAnns(coco_gt.getAnnIds()))
    full = np.array([[boundary_fscore(d, g, tol) for g in gts] for d in res_masks])
    assert np.allclose(scores, full)
    # gaps of 1-3 px match within 3 px, gaps of 4-7 px are compared and do not, beyond: skipped
    assert full[:3, 0].min() > 0 and full[3:13, 0].max() == 0


def test_largest_gains_orders_images_by_boundary_iou_gain(coco, tmp_path):
    from bpr.core import decode
    from bpr.evaluation import largest_gains
    gt = json.load(open(coco['gt']))
    coarse = json.load(open(coco['coarse']))
    assert [c['image_id'] for c in coarse] == [a['image_id'] for a in gt['annotations']]
    refined = []
    for c, a in zip(coarse, gt['annotations']):
        r = dict(c)
        if c['image_id'] == 2:  # perfect
            r['segmentation'] = a['segmentation']
        elif c['image_id'] == 3:  # worse: moved by 3 px
            h, w = c['segmentation']['size']
            r['segmentation'] = encode(np.roll(decode(c['segmentation'], h, w), 3, axis=1))
        refined.append(r)
    assert largest_gains(gt, coarse, refined) == [2, 1, 3]
    assert largest_gains(gt, coarse, coarse) == [1, 2, 3]  # ties by id
    with pytest.raises(ValueError, match='3 coarse instances but 2 refined'):
        largest_gains(gt, coarse[:3], refined[:2])
    with open(tmp_path / 'refined.json', 'w') as f:
        json.dump(refined, f)
    out = tmp_path / 'pics'
    proc = _visualize(coco, out, '--best', '--num', '1', '--patch-size', '32',
                      refined=str(tmp_path / 'refined.json'))
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(out) == ['img_1.png']  # image id 2
