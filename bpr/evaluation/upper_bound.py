"""The paper's upper bounds: coarse masks with the ground truth pasted into their patches, or
into a band around their boundary."""
from typing import List, Optional

import cv2
import numpy as np

from ..core import (PatchConfig, crop_patches, decode, encode, extract_instance,
                    reassemble_instance)
from ..core.io import group_by_image
from ..core.matching import best_gt, gt_by_image


def boundary_band(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` px (chessboard distance) of the mask's boundary.

    A pixel is in the band when its ``(2 * width + 1)``-square window holds both foreground and
    background (zero padding outside the image), so ``width=1`` gives exactly the non-zero
    pixels of :func:`bpr.core.boundary_score`.
    """
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    m = mask.astype(np.uint8)
    grown = cv2.dilate(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    shrunk = cv2.erode(m, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return grown != shrunk


def at_stride(patches: np.ndarray, stride: int) -> np.ndarray:
    """``(N, S, S)`` patches as a network whose output has one pixel per ``stride`` px would
    give them: averaged over ``stride``-square cells, then bilinearly upsampled back."""
    if stride == 1 or not len(patches):
        return patches
    s = patches.shape[-1]
    if s % stride:
        raise ValueError(f'patch size {s} is not a multiple of the stride {stride}')
    cells = patches.reshape(len(patches), s // stride, stride, s // stride, stride).mean((2, 4))
    return np.stack([cv2.resize(c, (s, s), interpolation=cv2.INTER_LINEAR) for c in cells])


def upper_bound_results(results: List[dict], gt: dict, cfg: PatchConfig = PatchConfig(),
                        band: Optional[int] = None, stride: int = 1) -> List[dict]:
    """Results whose masks take the matched GT instance (same category, best IoU; empty if
    none) inside the boundary patches BPR would select, and the coarse mask elsewhere.

    With ``stride=k`` the pasted GT is seen at the resolution of a network output with one
    pixel per ``k`` px of the patch (:func:`at_stride`): a perfect network of that resolution.
    With ``band=n`` the GT is pasted within ``n`` px of the coarse boundary instead (the
    paper's Table 1: 1, 2, 3 px); ``cfg`` and ``stride`` are then unused.
    """
    images = {img['id']: img for img in gt['images']}
    anns = gt_by_image(gt)
    out = [dict(r) for r in results]
    for image_id, idx in group_by_image(results).items():
        h, w = images[image_id]['height'], images[image_id]['width']
        group = [results[i] for i in idx]
        _, match = best_gt(group, anns[image_id], h, w)
        for i, res, m in zip(idx, group, match):
            coarse = decode(res['segmentation'], h, w)
            target = decode(anns[image_id][m]['segmentation'], h, w) if m >= 0 else \
                np.zeros((h, w), bool)
            if band is None:
                inst = extract_instance(coarse, cfg)
                probs = at_stride(crop_patches(target.astype(np.float32), inst.boxes,
                                               cfg.padding), stride)
                mask = reassemble_instance(coarse, inst, probs, cfg.padding)
            else:
                mask = np.where(boundary_band(coarse, band), target, coarse)
            out[i]['segmentation'] = encode(mask)
    return out
