"""Mask R-CNN-like coarse masks from ground truth: the resolution loss BPR repairs."""
from typing import List

import cv2
import numpy as np

import pycocotools.mask as mask_utils

from .masks import encode, foreground_box
from .matching import gt_by_image, to_rle
from .patches import crop_padded


def coarsen(mask: np.ndarray, box, grid: int = 28) -> np.ndarray:
    """Resample the part of ``mask`` inside ``box`` (x1, y1, x2, y2) through a ``grid x grid``
    soft mask and paste it back (bilinear, threshold 0.5), like Mask R-CNN's mask head."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    crop = crop_padded(mask.astype(np.float32), x1, y1, x2, y2)
    soft = cv2.resize(crop, (grid, grid), interpolation=cv2.INTER_AREA)
    pasted = cv2.resize(soft, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR) > 0.5
    out = np.zeros(mask.shape, bool)
    h, w = mask.shape
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    out[sy1:sy2, sx1:sx2] = pasted[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1]
    return out


def perturb(mask: np.ndarray, rng: np.random.Generator, morph: int = 0, noise: float = 0.0,
            thin: int = 0) -> np.ndarray:
    """The errors of real segmenters besides resolution, on a binary mask (never emptied).

    Args:
        morph: Dilate or erode by a radius drawn uniformly from ``-morph .. morph`` px.
        noise: Move the boundary in and out by a smooth random field of this many px (std).
        thin: Remove the parts thinner than this many px (a morphological opening).
    """
    box = foreground_box(mask)
    if box is None:
        return mask
    pad = 2 * max(morph, int(np.ceil(3 * noise)), thin) + 2
    h, w = mask.shape
    y1, y2 = max(box[0].start - pad, 0), min(box[0].stop + pad, h)
    x1, x2 = max(box[1].start - pad, 0), min(box[1].stop + pad, w)
    out = mask[y1:y2, x1:x2].astype(np.uint8)
    if morph:
        r = int(rng.integers(-morph, morph + 1))
        if r:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(r) + 1, ) * 2)
            out = (cv2.dilate if r > 0 else cv2.erode)(out, kernel)
    if noise > 0:
        # signed distance to the boundary (px, positive inside) plus a smooth field
        inside = cv2.distanceTransform(out, cv2.DIST_L2, 3)
        outside = cv2.distanceTransform(1 - out, cv2.DIST_L2, 3)
        field = cv2.GaussianBlur(rng.standard_normal(out.shape).astype(np.float32), (0, 0), 4)
        field *= noise / max(float(field.std()), 1e-6)
        out = ((inside - outside + field) > 0).astype(np.uint8)
    if thin > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thin, thin))
        out = cv2.morphologyEx(out, cv2.MORPH_OPEN, kernel)
    if not out.any():
        return mask
    result = mask.copy()
    result[y1:y2, x1:x2] = out.astype(bool)
    return result


def make_coarse(gt: dict, grid: int = 28, jitter: float = 0.05, score: float = None,
                drop: float = 0.0, merge: float = 0.0, seed: int = 0, morph: int = 0,
                noise: float = 0.0, thin: int = 0) -> List[dict]:
    """One coarse result per non-crowd GT instance, in annotation order.

    Args:
        grid: Side of the soft mask grid (Mask R-CNN: 28).
        jitter: Box jitter, as a fraction of the box's width/height (uniform, per side).
        score: Fixed score; default: uniform in [0.5, 1).
        drop: Probability of dropping an instance.
        merge: Probability of merging an instance with the next one of the same image and
            category (their union becomes one result).
        seed: Random seed: the output is a function of (gt, options, seed).
        morph, noise, thin: Errors besides resolution, applied after the grid
            (:func:`perturb`); off by default, drawn from a random stream of their own so
            that the other draws do not change.
    """
    rng = np.random.default_rng(seed)
    errors = np.random.default_rng([seed, 1])
    by_image = gt_by_image(gt)
    results = []
    for img in gt['images']:
        image_id, anns = img['id'], by_image.get(img['id'], [])
        h, w = img['height'], img['width']
        masks = [mask_utils.decode(to_rle(a['segmentation'], h, w)).astype(bool) for a in anns]
        skip = set()
        for i, (ann, mask) in enumerate(zip(anns, masks)):
            u_drop, u_merge, u_score = rng.random(3)
            j = rng.uniform(-jitter, jitter, 4)
            if i in skip or u_drop < drop or not mask.any():
                continue
            if u_merge < merge:
                later = [k for k in range(i + 1, len(anns))
                         if anns[k]['category_id'] == ann['category_id'] and k not in skip]
                if later:
                    mask = mask | masks[later[0]]
                    skip.add(later[0])
            ys, xs = np.nonzero(mask)
            x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0
            bw, bh = x2 - x1, y2 - y1
            box = (x1 + j[0] * bw, y1 + j[1] * bh, x2 + j[2] * bw, y2 + j[3] * bh)
            coarse = coarsen(mask, box, grid)
            if not coarse.any():
                coarse = mask
            if morph or noise or thin:
                coarse = perturb(coarse, errors, morph, noise, thin)
            rle = encode(coarse)
            results.append(dict(image_id=image_id, category_id=ann['category_id'],
                                score=float(score if score is not None else 0.5 + 0.5 * u_score),
                                segmentation=rle,
                                bbox=[float(v) for v in mask_utils.toBbox(rle)]))
    return results
