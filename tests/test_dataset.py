"""RefineDataset + LoadCoarseMask, the on-disk patch layout and DATA_ROOT errors."""
import os
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest
import torch
from mmseg.datasets import build_dataset

from bpr.apis.train import check_data_root
from bpr.datasets import DataRootError
from helpers import TINY_CONFIG


def _cfg(root):
    cfg = mmcv.Config.fromfile(TINY_CONFIG)
    for split in ('train', 'val', 'test'):
        cfg.data[split].data_root = root
    return cfg


def test_layout_and_detail_records(patches, coco):
    for mode in ('train', 'val'):
        names = {sub: sorted(os.listdir(osp.join(patches, sub, mode)))
                 for sub in ('img_dir', 'mask_dir', 'ann_dir')}
        assert names['img_dir'] and names['img_dir'] == names['mask_dir'] == names['ann_dir']
        records = os.listdir(osp.join(patches, 'detail_dir', mode))
        assert all(r.endswith('.json') for r in records)
    img = mmcv.imread(osp.join(patches, 'img_dir', 'val', names['img_dir'][0]))
    assert img.shape == (32, 32, 3)
    ann = mmcv.imread(osp.join(patches, 'ann_dir', 'val', names['ann_dir'][0]), 'unchanged')
    assert set(np.unique(ann)) <= {0, 255}


def test_train_pipeline_values(patches):
    cfg = _cfg(patches)
    ds = build_dataset(cfg.data.train)
    assert len(ds) == len(os.listdir(osp.join(patches, 'img_dir', 'train')))
    item = ds[0]
    img, mask, gt = item['img'].data, item['coarse_mask'].data, item['gt_semantic_seg'].data
    assert img.shape == (3, 64, 64) and img.dtype == torch.float32
    assert mask.shape == (1, 64, 64) and set(mask.unique().tolist()) <= {-1.0, 1.0}
    assert gt.shape == (1, 64, 64) and set(gt.unique().tolist()) <= {0, 1}
    # the coarse mask is the mask patch, resized nearest: compare with the file
    name = ds.img_infos[0]['filename']
    raw = mmcv.imread(osp.join(patches, 'mask_dir', 'train', name), 'unchanged')
    expected = mmcv.imresize((raw > 127).astype(np.float32) * 2 - 1, (64, 64),
                             interpolation='nearest')
    flipped = item['img_metas'].data['flip']
    expected = expected[:, ::-1] if flipped else expected
    assert np.array_equal(mask[0].numpy(), expected)
    gt_raw = mmcv.imread(osp.join(patches, 'ann_dir', 'train', name), 'unchanged')
    gt_exp = mmcv.imresize((gt_raw == 255).astype(np.uint8), (64, 64), interpolation='nearest')
    gt_exp = gt_exp[:, ::-1] if flipped else gt_exp
    assert np.array_equal(gt[0].numpy(), gt_exp)


@pytest.mark.parametrize('src, dst', [(48, 128), (40, 128), (96, 128), (200, 128)])
def test_resize_exact_keeps_masks_on_the_image_grid(src, dst):
    """Label maps and coarse masks resampled at the pixel centres, as the in-memory path
    does: an outline stays where the image's lies; mmseg's stock ``Resize`` moves it."""
    from mmseg.datasets.pipelines import Resize
    from bpr.datasets import ResizeExact
    from bpr.datasets.transforms import nearest_indices, resize_nearest
    # (64, 160): where OpenCV's INTER_NEAREST_EXACT rounds ties the other way
    for n, m in ((src, dst), (64, 128), (64, 160), (160, 64)):
        assert np.array_equal(nearest_indices(n, m), torch.nn.functional.interpolate(
            torch.arange(n, dtype=torch.float64)[None, None], size=m,
            mode='nearest-exact')[0, 0].long().numpy())
    rng = np.random.default_rng(src)
    shifts = {}
    for step in (ResizeExact, Resize):
        total = 0.0
        for edge in range(1, src):  # foreground from column ``edge`` on
            mask = np.where(np.arange(src) >= edge, 1.0, -1.0).astype(np.float32)
            results = dict(img=rng.integers(0, 255, (src, src, 3), dtype=np.uint8),
                           coarse_mask=np.tile(mask, (src, 1)), seg_fields=['coarse_mask'])
            out = step(img_scale=(dst, dst), keep_ratio=False)(results)
            assert out['img'].shape == (dst, dst, 3) and out['coarse_mask'].shape == (dst, dst)
            assert set(np.unique(out['coarse_mask'])) <= {-1.0, 1.0}
            # where the outline lands, in output pixels, against where the image's lies
            total += (out['coarse_mask'][0] < 0).sum() - edge * dst / src
        shifts[step.__name__] = total / (src - 1)
    assert abs(shifts['ResizeExact']) < 0.05, shifts
    assert shifts['Resize'] > 0.3, shifts
    # at an integer scale the two agree
    mask = np.where(rng.random((32, 32)) > 0.5, 1.0, -1.0).astype(np.float32)
    rows = nearest_indices(32, 64)
    assert np.array_equal(resize_nearest(mask, (64, 64)), mask[rows[:, None], rows])
    exact, stock = (step(img_scale=(64, 64), keep_ratio=False)(dict(
        img=np.zeros((32, 32, 3), np.uint8), coarse_mask=mask, seg_fields=['coarse_mask']))
        for step in (ResizeExact, Resize))
    assert np.array_equal(exact['coarse_mask'], stock['coarse_mask'])
    # keeping the aspect ratio, the masks follow the image's new size
    out = ResizeExact(img_scale=(128, 128), keep_ratio=True)(dict(
        img=np.zeros((30, 50, 3), np.uint8), coarse_mask=np.ones((30, 50), np.float32),
        seg_fields=['coarse_mask']))
    assert out['img'].shape[:2] == out['coarse_mask'].shape == (77, 128)


def test_test_pipeline_and_eval_of_probabilities(patches):
    cfg = _cfg(patches)
    ds = build_dataset(cfg.data.test, dict(test_mode=True))
    item = ds[0]
    assert item['img'][0].shape == (3, 64, 64) and item['coarse_mask'][0].shape == (1, 64, 64)
    gts = [ds.get_gt_seg_map_by_idx(i) for i in range(len(ds))]
    perfect = [g.astype(np.float32) * 0.9 + 0.05 for g in gts]  # probabilities
    res = ds.evaluate(ds.pre_eval(perfect, list(range(len(ds)))), 'mIoU')
    assert res['mIoU'] == pytest.approx(1.0)
    wrong = [1 - p for p in perfect]
    assert ds.evaluate(ds.pre_eval(wrong, list(range(len(ds)))), 'mIoU')['mIoU'] < 0.5


def test_data_root_errors(patches, tmp_path, monkeypatch):
    cfg = _cfg(None)
    with pytest.raises(DataRootError, match='DATA_ROOT is not set'):
        check_data_root(cfg)
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(DataRootError, match='nowhere'):
        check_data_root(_cfg(missing))
    broken = str(tmp_path / 'broken')
    shutil.copytree(patches, broken)
    victim = sorted(os.listdir(osp.join(broken, 'mask_dir', 'train')))[0]
    os.remove(osp.join(broken, 'mask_dir', 'train', victim))
    with pytest.raises(DataRootError, match=f'mask_dir.*{victim}'):
        check_data_root(_cfg(broken))
    # the config reads DATA_ROOT from the environment
    monkeypatch.setenv('DATA_ROOT', patches)
    assert mmcv.Config.fromfile(TINY_CONFIG).data.train.data_root == patches


@pytest.mark.parametrize('form', ['list', 'repeat'])
def test_data_root_errors_in_every_part_of_a_combined_training_set(patches, tmp_path, form):
    """mmseg trains on a list of datasets (concatenated) and on wrappers such as
    RepeatDataset: each patch dataset in them is checked, the others are left to their
    classes, and the combination builds."""
    def combined(*roots):
        parts = [dict(_cfg(r).data.train) for r in roots]
        return parts if form == 'list' else [
            dict(type='RepeatDataset', times=2, dataset=parts[0]), *parts[1:]]

    cfg = _cfg(patches)
    cfg.data.train = combined(patches, patches)
    check_data_root(cfg)
    per_part = len(os.listdir(osp.join(patches, 'img_dir', 'train')))
    assert len(build_dataset(cfg.data.train)) == per_part * (3 if form == 'repeat' else 2)
    # a part that is not a patch dataset (no mask_dir) is not this check's to judge
    cfg.data.train = combined(patches, patches)
    cfg.data.train.append(dict(type='CustomDataset', img_dir='elsewhere', pipeline=[]))
    check_data_root(cfg)
    # the second part's missing folder is named
    cfg.data.train = combined(patches, str(tmp_path / 'nowhere'))
    with pytest.raises(DataRootError, match='nowhere'):
        check_data_root(cfg)
    cfg.data.train = combined(None, patches)
    with pytest.raises(DataRootError, match='DATA_ROOT is not set'):
        check_data_root(cfg)
