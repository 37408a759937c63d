"""The project's default model: loads into its config and sharpens a clear edge."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmcv.runner import CheckpointLoader

from bpr.apis import DEFAULT_CHECKPOINT, DEFAULT_CONFIG, init_refiner, refine
from bpr.apis.inference import for_model, patch_views
from bpr.core import PatchConfig, extract_instance
from bpr.core.coarse import coarsen
from bpr.core.io import InputError
from bpr.evaluation import mask_to_boundary


def _boundary_iou(a, b):
    ba, bb = mask_to_boundary(a), mask_to_boundary(b)
    return (ba & bb).sum() / (ba | bb).sum()


def test_default_checkpoint_loads_without_missing_keys():
    assert osp.isfile(DEFAULT_CHECKPOINT)
    ckpt = CheckpointLoader.load_checkpoint(DEFAULT_CHECKPOINT, map_location='cpu')
    model = init_refiner(DEFAULT_CONFIG, 'none', device='cpu', fuse=False)
    assert set(ckpt['state_dict']) == set(model.state_dict())
    refiner = init_refiner(device='cpu', fuse=False)  # the default checkpoint, strict loading
    k = 'backbone.conv_mask.weight'
    assert torch.allclose(refiner.state_dict()[k], ckpt['state_dict'][k].float())


def test_default_checkpoint_by_name_with_any_config_of_its_network():
    """'default' loads the project's model whatever the config, as the scripts document;
    a config of another network refuses it in one line rather than running random weights."""
    ckpt = CheckpointLoader.load_checkpoint(DEFAULT_CHECKPOINT, map_location='cpu')
    diverse = osp.join(osp.dirname(DEFAULT_CONFIG), 'hrnet18s_128_diverse.py')
    model = init_refiner(diverse, 'default', device='cpu', fuse=False)
    k = 'backbone.conv_mask.weight'
    assert torch.allclose(model.state_dict()[k], ckpt['state_dict'][k].float())
    assert model.min_size == 160  # the default model's own settings come with it
    large = osp.join(osp.dirname(DEFAULT_CONFIG), 'hrnet48_256.py')
    with pytest.raises(InputError, match='not a checkpoint of this model'):
        init_refiner(large, 'default', device='cpu')


def test_default_model_improves_a_clear_edge():
    rng = np.random.default_rng(0)
    h, w = 240, 320
    img = rng.integers(90, 130, (h, w, 3), dtype=np.uint8)  # grey textured background
    gt = np.zeros((h, w), np.uint8)
    cv2.ellipse(gt, (160, 125), (95, 70), 15, 0, 360, 1, -1)
    cv2.rectangle(gt, (120, 160), (150, 230), 1, -1)  # a leg, thin detail
    gt = gt.astype(bool)
    img[gt] = (30, 40, 200)  # a red object with a crisp edge
    coarse = coarsen(gt, (60, 50, 262, 232), grid=12)
    model = init_refiner(device='cpu')
    refined = refine(model, img, coarse[None])[0]
    # measured: 0.703 -> 0.804 (0.808 with 64-px patches); an identity refiner: +0
    assert _boundary_iou(refined, gt) > _boundary_iou(coarse, gt) + 0.02


def test_default_model_carries_its_test_settings():
    """The released test settings (meta) are the defaults; the caller's values win."""
    model = init_refiner(device='cpu')
    own = (160, 0.55, 48, 10, 0.125)
    assert (model.min_size, model.iou_thresh, model.patch_size, model.min_part,
            model.patch_ratio) == own
    assert [d for d, _ in patch_views(model.cfg).flips] == [None, 'horizontal']
    cfg = for_model(PatchConfig(), model)
    assert (cfg.min_size, cfg.iou_thresh, cfg.patch_size, cfg.min_part, cfg.patch_ratio) == own
    mine = PatchConfig(64, iou_thresh=0.25, min_size=0, min_part=0, patch_ratio=0)
    assert for_model(mine, model) == mine
    plain = init_refiner(device='cpu', flip=False)
    assert [d for d, _ in patch_views(plain.cfg).flips] == [None]
    mask = np.zeros((200, 260), bool)
    cv2.ellipse(mask.view(np.uint8), (130, 100), (110, 80), 20, 0, 360, 1, -1)
    dense = extract_instance(mask, cfg).num
    assert dense > extract_instance(mask, cfg._replace(iou_thresh=0.25)).num > 0
    # boxes of 48 px up to objects of 415 px, an eighth of the object's side beyond
    assert extract_instance(mask, cfg).box_size == 48
    large = cv2.resize(mask.view(np.uint8), (780, 600), interpolation=cv2.INTER_NEAREST)
    assert extract_instance(large.astype(bool), cfg).box_size == 80  # 645 px / 8


def test_small_instances_keep_their_coarse_mask():
    """An instance below min_size passes through untouched; a large one is refined. The
    default model carries its measured min_size (160 px) in its checkpoint."""
    rng = np.random.default_rng(1)
    h, w = 240, 320
    img = rng.integers(90, 130, (h, w, 3), dtype=np.uint8)
    large = np.zeros((h, w), np.uint8)
    cv2.ellipse(large, (150, 125), (115, 70), 10, 0, 360, 1, -1)  # 230 px wide
    small = np.zeros((h, w), np.uint8)
    cv2.ellipse(small, (280, 40), (9, 6), 30, 0, 360, 1, -1)  # 19x13 px: exact already
    large, small = large.astype(bool), small.astype(bool)
    img[large] = (30, 40, 200)
    img[small] = (200, 60, 30)
    coarse_large = coarsen(large, (30, 50, 270, 200), grid=12)
    masks = np.stack([coarse_large, small])
    model = init_refiner(device='cpu')
    assert model.min_size == 160
    kept = refine(model, img, masks)
    assert np.array_equal(kept[1], small)
    assert np.array_equal(refine(model, img, masks, min_size=32)[1], small)
    assert not np.array_equal(kept[0], coarse_large)
    assert _boundary_iou(kept[0], large) > _boundary_iou(coarse_large, large)
    # min_size=0 refines the small one too, as the original does: here it breaks it
    everything = refine(model, img, masks, min_size=0)
    assert np.array_equal(everything[0], kept[0])
    assert not np.array_equal(everything[1], small)
    # a checkpoint without min_size in its meta (the released ones) refines every instance
    assert init_refiner(DEFAULT_CONFIG, 'none', device='cpu').min_size == 0
