"""Boundary score, proposals, NMS, move-back, crops and reassembly."""
import numpy as np
import pytest

from bpr.core import (InstancePatches, PatchConfig, boundary_score, crop_patches, dense_boxes,
                      extract_image, extract_instance, move_inside, nms_boxes, propose,
                      reassemble_image)
from helpers import scene


def test_boundary_score_known_square():
    m = np.zeros((7, 7), bool)
    m[2:5, 2:5] = True
    s = boundary_score(m)
    # centre: all 9 neighbours foreground -> 0; far background -> 0
    assert s[3, 3] == 0 and s[0, 0] == 0
    # a corner of the square sees 4 foreground pixels: min(5, 4) / 4.5
    assert s[2, 2] == pytest.approx(4 / 4.5)
    # the middle of an edge sees 6: min(3, 6) / 4.5
    assert s[2, 3] == pytest.approx(3 / 4.5)
    # outside, next to the middle of an edge: 3 foreground pixels
    assert s[1, 3] == pytest.approx(3 / 4.5)
    # diagonal outside corner: 1 foreground pixel
    assert s[1, 1] == pytest.approx(1 / 4.5)
    nonzero = s > 0
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True
    expected[3, 3] = False
    assert (nonzero == expected).all()


def test_boundary_score_image_border_counts_as_background():
    m = np.ones((5, 5), bool)
    s = boundary_score(m)
    assert s[2, 2] == 0
    assert s[0, 2] == pytest.approx(3 / 4.5)  # 6 foreground pixels in the window
    assert s[0, 0] == pytest.approx(4 / 4.5)  # 4 foreground pixels in the window
    assert (s[0] > 0).all() and (s[:, 0] > 0).all()


def _reference_nms(boxes, scores, thr, order=None):
    """Greedy NMS in plain Python, visiting boxes in ``order`` (default: stable by score)."""
    if order is None:
        order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        ok = True
        for j in keep:
            ix = max(0, min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]))
            iy = max(0, min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]))
            inter = ix * iy
            area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
            if inter / (area(boxes[i]) + area(boxes[j]) - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@pytest.mark.parametrize('thr', [0.15, 0.25, 0.55])
def test_proposals_nms_move_back_match_reference(thr):
    _, masks = scene(90, 120, seed=3)
    mask = masks[0]
    p, (h, w) = 32, mask.shape
    # reference: loops over pixels
    score = boundary_score(mask)
    ref_boxes, ref_scores = [], []
    for y in range(h):
        for x in range(w):
            if score[y, x] > 0:
                ref_boxes.append([x - p // 2, y - p // 2, x + p // 2, y + p // 2])
                ref_scores.append(score[y, x])
    boxes, scores = dense_boxes(score, p)
    assert boxes.tolist() == ref_boxes and np.allclose(scores, ref_scores)
    keep = nms_boxes(boxes, scores, thr, stable=True)
    assert keep.tolist() == _reference_nms(ref_boxes, ref_scores, thr)
    moved = move_inside(boxes[keep], h, w)
    for b, m in zip(boxes[keep], moved):
        dx = min(max(b[0], 0), w - p) - b[0]
        dy = min(max(b[1], 0), h - p) - b[1]
        assert m.tolist() == [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]
    assert (moved[:, :2] >= 0).all() and (moved[:, 2] <= w).all() and (moved[:, 3] <= h).all()
    # the full function on the ROI gives the same boxes as on the whole image
    cfg = PatchConfig(p, 0, thr, 'nms_stable')
    assert propose(mask, cfg).tolist() == moved.tolist()
    assert extract_instance(mask, cfg).boxes.tolist() == moved.tolist()


def _original_proposals(mask, patch_size, thr):
    """The original release's proposals, rewritten from its split_patches.py: boundary by a
    3x3 convolution in torch, boxes in row-major order, the boundary scores as NMS scores.
    The greedy NMS is re-computed here, visiting boxes in the order of torch's descending sort
    (the sort inside mmcv's op); only boxes are compared, before any move-back."""
    import torch
    import torch.nn.functional as F
    m = torch.tensor(mask, dtype=torch.float32)[None, None]
    s = F.conv2d(m, m.new_ones((1, 1, 3, 3)), padding=1)[0, 0]
    fb = (torch.min(torch.abs(s - 9), torch.abs(s)) / 4.5).numpy()
    ys, xs = np.where(fb)
    scores = fb[ys, xs]
    boxes = np.stack([xs - patch_size // 2, ys - patch_size // 2,
                      xs + patch_size // 2, ys + patch_size // 2], axis=1)
    order = torch.sort(torch.from_numpy(scores), descending=True)[1].tolist()
    keep = _reference_nms(boxes.tolist(), scores.tolist(), thr, order)
    return boxes[keep]


@pytest.mark.parametrize('thr', [0.15, 0.25, 0.55])
def test_default_proposals_are_the_originals(thr):
    p = 32
    for seed in (3, 4):
        _, masks = scene(90, 120, seed=seed)
        for mask in masks:
            expected = _original_proposals(mask, p, thr)
            h, w = mask.shape
            got = propose(mask, PatchConfig(p, 0, thr))
            assert got.tolist() == move_inside(expected, h, w).tolist()
            assert extract_instance(mask, PatchConfig(p, 0, thr)).boxes.tolist() == \
                got.tolist()


def test_tie_break_changes_the_selection():
    """Most boundary scores tie: the order the ties are visited in selects other boxes (the
    original's op order gives fewer here, as on real photographs)."""
    counts = {}
    for sampling in ('nms', 'nms_stable'):
        counts[sampling] = sum(len(propose(m, PatchConfig(32, 0, 0.25, sampling)))
                               for seed in range(4) for m in scene(120, 160, seed=seed)[1])
    assert counts['nms'] != counts['nms_stable']


def test_larger_threshold_gives_more_patches():
    _, masks = scene(120, 120, seed=5)
    counts = [len(propose(masks[0], PatchConfig(32, 0, t))) for t in (0.15, 0.25, 0.55)]
    assert counts[0] <= counts[1] < counts[2]


@pytest.mark.parametrize('cfg, message', [
    (PatchConfig(1), 'patch patch_size 1: expected an integer >= 2'),
    (PatchConfig(32.0), 'patch patch_size 32.0: expected an integer >= 2'),
    (PatchConfig(32, -1), 'patch padding -1: expected an integer >= 0'),
    (PatchConfig(32, None), 'patch padding None: expected an integer >= 0'),
    (PatchConfig(True), 'patch patch_size True: expected an integer >= 2'),
    (PatchConfig(32, 0, 0.0), r'patch iou_thresh 0\.0: expected a number in \(0, 1\]'),
    (PatchConfig(32, 0, 1.5), r'patch iou_thresh 1\.5: expected a number in \(0, 1\]'),
    (PatchConfig(32, 0, 0.25, 'nms', -8), 'patch min_size -8: expected an integer >= 0'),
    (PatchConfig(32, 0, 0.25, 'dense'), "patch sampling 'dense': expected one of"),
    (PatchConfig(32, min_part=2.5), r'patch min_part 2\.5: expected an integer >= 0'),
    (PatchConfig(32, patch_ratio=2), r'patch patch_ratio 2: expected a number in \[0, 1\]'),
])
def test_patch_settings_out_of_range_are_refused(cfg, message):
    from bpr.apis import for_model
    _, masks = scene(80, 80, seed=1)
    with pytest.raises(ValueError, match=message):
        cfg.check()
    with pytest.raises(ValueError, match=message):
        extract_instance(masks[0], cfg)  # no boxes made of them
    with pytest.raises(ValueError, match=message):
        for_model(cfg, object())


def test_valid_patch_settings_pass():
    for cfg in (PatchConfig(), PatchConfig(2, 0, 1.0, 'grid', 0), PatchConfig(48, 4, 0.55),
                PatchConfig(48, patch_ratio=0.125), PatchConfig(48, patch_ratio=0),
                PatchConfig(np.int64(48), np.int32(0), np.float32(0.5), 'nms', np.uint16(9))):
        assert cfg.check() is cfg


def test_setting_arg_is_the_usage_error_of_the_tools():
    import argparse
    from bpr.core.patches import setting_arg
    assert setting_arg('patch_size')('48') == 48 and setting_arg('iou_thresh')('1') == 1.0
    for name, text, expected in [('patch_size', '1', 'an integer >= 2'),
                                 ('patch_size', '48.5', 'an integer >= 2'),
                                 ('iou_thresh', 'nan', 'a number in (0, 1]'),
                                 ('iou_thresh', 'x', 'a number in (0, 1]'),
                                 ('min_size', '-1', 'an integer >= 0'),
                                 ('min_part', '1.5', 'an integer >= 0'),
                                 ('patch_ratio', '1.5', 'a number in [0, 1]')]:
        with pytest.raises(argparse.ArgumentTypeError) as err:
            setting_arg(name)(text)
        assert str(err.value) == f'{text!r}: expected {expected}'


def test_box_larger_than_image_goes_to_corner():
    moved = move_inside(np.array([[-10, -5, 54, 59]]), 30, 40)
    assert moved.tolist() == [[0, 0, 64, 64]]


def test_crop_patches_match_slicing_with_zero_padding():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 16, 16], [24, 14, 40, 30], [5, 3, 21, 19]])
    pad = 4
    out = crop_patches(img, boxes, pad)
    big = np.pad(img, ((pad, pad), (pad, pad), (0, 0)))
    for b, patch in zip(boxes, out):
        assert (patch == big[b[1]:b[3] + 2 * pad, b[0]:b[2] + 2 * pad]).all()


def identity(groups: dict) -> dict:
    """A network that changes nothing: each coarse-mask patch is its own probability."""
    return {side: group.mask.astype(np.float32) for side, group in groups.items()}


@pytest.mark.parametrize('ratio', [0, 0.3])
@pytest.mark.parametrize('padding', [0, 5])
@pytest.mark.parametrize('size', [(96, 128), (20, 30)])
def test_identity_network_reproduces_coarse_masks(padding, size, ratio):
    img, masks = scene(*size, seed=7, n=4)
    masks.append(np.zeros(size, bool))  # empty instance
    masks.append(np.ones(size, bool))  # whole image, touching every border
    cfg = PatchConfig(32, padding, 0.25, patch_ratio=ratio)
    instances, groups = extract_image(img, masks, cfg)
    assert len(instances) == len(masks)
    sides = {i.box_size + 2 * padding for i in instances if i.num}
    assert set(groups) == sides
    assert len(sides) > 1 or not ratio or size == (20, 30)  # the ratio grew some boxes
    for side, group in groups.items():
        # each instance's own patches, in instance order
        own = [(crop_patches(img, i.boxes, padding), crop_patches(m, i.boxes, padding))
               for m, i in zip(masks, instances) if i.num and i.box_size + 2 * padding == side]
        assert np.array_equal(group.img, np.concatenate([o[0] for o in own]))
        assert np.array_equal(group.mask, np.concatenate([o[1] for o in own]))
        assert group.img.shape[1:] == (side, side, 3) and group.mask.dtype == np.uint8
    refined = reassemble_image(masks, instances, identity(groups), padding)
    assert len(refined) == len(masks)
    for m, r in zip(masks, refined):
        assert (m == r).all()


def test_patch_ratio_grows_the_boxes_of_large_instances_only():
    cfg = PatchConfig(48, patch_ratio=0.125)
    assert [cfg.instance_box_size(n) for n in (100, 400, 420, 780, 2000)] == \
        [48, 48, 56, 96, 248]
    assert PatchConfig(48).instance_box_size(2000) == 48  # 0 / None: every box patch_size
    img = np.zeros((900, 900, 3), np.uint8)
    small, large = np.zeros((900, 900), bool), np.zeros((900, 900), bool)
    small[10:150, 10:110] = True
    large[100:880, 200:700] = True  # 780 px tall: boxes of 0.125 x 780 -> 96 px
    instances, groups = extract_image(img, [small, large], cfg)
    assert [i.box_size for i in instances] == [48, 96]
    assert (np.diff(instances[1].boxes[:, [0, 2]]) == 96).all()
    assert sorted(groups) == [48, 96]
    assert len(groups[96].img) == instances[1].num
    refined = reassemble_image([small, large], instances, identity(groups), 0)
    assert np.array_equal(refined[0], small) and np.array_equal(refined[1], large)
    with pytest.raises(ValueError, match='patch_ratio'):
        PatchConfig(48, patch_ratio=1.5).check()


@pytest.mark.parametrize('order', ['C', 'F'])
def test_reassembly_averages_overlapping_patches(order):
    coarse = np.zeros((10, 10), bool, order=order)  # decoded RLEs come in F order
    inst = InstancePatches(np.array([[0, 0, 6, 6], [4, 4, 10, 10]]))
    probs = np.stack([np.full((6, 6), 0.9), np.full((6, 6), 0.05)]).astype(np.float32)
    refined = reassemble_image([coarse], [inst], {6: probs}, 0)[0]
    assert refined[0, 0] and not refined[9, 9]
    assert not refined[5, 5]  # mean(0.9, 0.05) < 0.5
    probs[1] = 0.2
    assert reassemble_image([coarse], [inst], {6: probs}, 0)[0][5, 5]  # mean(0.9, 0.2) > 0.5


def test_small_parts_made_by_refining_are_dropped():
    from bpr.core.reassemble import drop_small_parts
    coarse = np.zeros((40, 60), bool)
    coarse[10:30, 10:40] = True
    coarse[2:4, 50:52] = True  # a coarse speck: kept
    coarse[18:20, 45:47] = True  # a coarse hole of the mask...
    refined = coarse.copy()
    refined[20:23, 50:53] = True  # a speck refining made (9 px)
    refined[15:17, 20:22] = False  # a pinhole refining made (4 px)
    refined[22:28, 28:34] = False  # a hole refining made, 36 px
    refined[0:2, 0:3] = True  # a speck at the edge: may go on outside
    out = drop_small_parts(refined, coarse, 10)
    expected = refined.copy()
    expected[20:23, 50:53] = False
    expected[15:17, 20:22] = True
    assert np.array_equal(out, expected)
    assert np.array_equal(drop_small_parts(refined, coarse, 40)[22:28, 28:34], np.ones((6, 6)))
    assert np.array_equal(drop_small_parts(refined, coarse, 0), refined)
    # only specks, none of them in the coarse mask: the mask is kept rather than emptied
    specks = np.zeros((40, 60), bool)
    specks[5:7, 5:7] = specks[30:32, 40:42] = True
    assert np.array_equal(drop_small_parts(specks, coarse, 10), specks)
    assert not drop_small_parts(specks | refined, coarse, 10)[5:7, 5:7].any()


def test_reassembly_drops_specks_within_its_patches():
    coarse = np.zeros((40, 40), bool)
    coarse[5:25, 5:15] = True
    inst = InstancePatches(np.array([[0, 0, 30, 30]]))
    probs = coarse[None, :30, :30].astype(np.float32)
    probs[0, 20:23, 20:23] = 0.9  # a speck the network made, 9 px
    probs[0, 10:12, 8:10] = 0.1  # and a pinhole, 4 px
    probs = {30: probs}
    raw = reassemble_image([coarse], [inst], probs, 0)[0]
    assert raw[20:23, 20:23].all() and not raw[10:12, 8:10].any()
    assert np.array_equal(reassemble_image([coarse], [inst], probs, 0, min_part=10)[0], coarse)
    speck_kept = coarse.copy()
    speck_kept[20:23, 20:23] = True  # 9 px: not under 5
    assert np.array_equal(reassemble_image([coarse], [inst], probs, 0, min_part=5)[0],
                          speck_kept)


def test_grid_sampling_takes_the_cells_the_boundary_crosses():
    _, masks = scene(90, 120, seed=3)
    mask, p = masks[0], 32
    boxes = propose(mask, PatchConfig(p, 0, sampling='grid'))
    assert len(boxes) == len({tuple(b) for b in boxes.tolist()})
    ys, xs = np.nonzero(boundary_score(mask) > 0)
    covered = np.zeros(mask.shape, bool)
    for x1, y1, x2, y2 in boxes:
        covered[y1:y2, x1:x2] = True
        assert x2 - x1 == p and 0 <= x1 and x2 <= 120 and 0 <= y1 and y2 <= 90
        # every cell holds boundary pixels (cells past the image edge were moved inside)
        assert (boundary_score(mask)[y1:y2, x1:x2] > 0).any()
    assert covered[ys, xs].all()
    expected = {((y // p) * p, (x // p) * p) for y, x in zip(ys, xs)}
    assert len(boxes) == len(expected)
    # on the ROI the grid stays anchored at the image origin
    assert extract_instance(mask, PatchConfig(p, 0, sampling='grid')).boxes.tolist() == \
        boxes.tolist()
    with pytest.raises(ValueError, match='sampling'):
        propose(mask, PatchConfig(p, 0, sampling='random'))
