"""Generated scenes for the tests: images with clear-edged shapes, COCO GT and coarse masks."""
import json
import os.path as osp

import cv2
import numpy as np

from bpr.core import encode
from bpr.core.coarse import make_coarse

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs', 'bpr', 'hrnet18s_64_tiny.py')


def random_masks(seed: int, count: int, max_side: int = 200):
    """``count`` uint8 masks of random size: 0-3 ellipses inside, across or beyond the border
    with values 1, 7 or 255, sometimes speckle, sometimes all foreground."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(1, max_side, 2))
        m = np.zeros((h, w), np.uint8)
        for _ in range(rng.integers(0, 4)):
            centre = (int(rng.integers(-20, w + 20)), int(rng.integers(-20, h + 20)))
            axes = (int(rng.integers(1, 120)), int(rng.integers(1, 120)))
            cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                        int(rng.choice([1, 7, 255])), -1)
        if rng.random() < 0.2:
            m[rng.random((h, w)) < 0.05] = 1
        if rng.random() < 0.05:
            m[:] = 1
        yield m


def random_checkpoint(path: str, seed: int = 0) -> str:
    """Save the seeded random weights of the tiny config (as built, not fused) to ``path``."""
    import torch
    from bpr.apis import init_refiner
    torch.manual_seed(seed)
    model = init_refiner(TINY_CONFIG, 'none', 'cpu', fuse=False)
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def scene(h: int, w: int, seed: int, n: int = 3):
    """A textured image with ``n`` filled shapes; returns (BGR image, list of bool masks)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    masks = []
    for k in range(n):
        m = np.zeros((h, w), np.uint8)
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        if k % 2 == 0:
            axes = (int(rng.integers(6, max(7, w // 3))), int(rng.integers(6, max(7, h // 3))))
            cv2.ellipse(m, (int(cx), int(cy)), axes, float(rng.integers(0, 180)), 0, 360, 1, -1)
        else:
            pts = rng.integers(0, [w, h], (5, 2)).astype(np.int32)
            cv2.fillPoly(m, [cv2.convexHull(pts)], 1)
        m = m.astype(bool)
        img[m] = np.array([80 + 50 * k, 200 - 40 * k, 120 + 30 * k]) % 256
        masks.append(m)
    return img, masks


def make_coco(root, sizes=((96, 128), (80, 80), (40, 50)), seed=0, n=3):
    """Write images + GT JSON + coarse JSON under ``root``; return their paths."""
    images, anns = [], []
    for i, (h, w) in enumerate(sizes):
        img, masks = scene(h, w, seed + i, n)
        name = f'img_{i}.png'
        cv2.imwrite(osp.join(root, name), img)
        images.append(dict(id=i + 1, file_name=name, height=h, width=w))
        for m in masks:
            if m.any():
                anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=1, iscrowd=0,
                                 segmentation=encode(m), area=int(m.sum()),
                                 bbox=[0, 0, w, h]))
    gt = dict(images=images, annotations=anns, categories=[dict(id=1, name='thing')])
    gt_path = osp.join(root, 'gt.json')
    with open(gt_path, 'w') as f:
        json.dump(gt, f)
    coarse = make_coarse(gt, grid=8, jitter=0.05, seed=seed)
    # every coarse result carries an extra field that must survive the pipeline
    for k, res in enumerate(coarse):
        res['extra'] = {'k': k}
    coarse_path = osp.join(root, 'coarse.json')
    with open(coarse_path, 'w') as f:
        json.dump(coarse, f)
    return dict(root=str(root), img_dir=str(root), gt=gt_path, coarse=coarse_path)
