"""The paper's upper bound: coarse masks with the ground truth pasted into their patches."""
from typing import List

import numpy as np

from ..core import (PatchConfig, crop_patches, decode, encode, extract_instance,
                    reassemble_instance)
from ..core.io import group_by_image
from ..core.matching import best_gt, gt_by_image


def upper_bound_results(results: List[dict], gt: dict,
                        cfg: PatchConfig = PatchConfig()) -> List[dict]:
    """Results whose masks take the matched GT instance (same category, best IoU; empty if
    none) inside the boundary patches BPR would select, and the coarse mask elsewhere."""
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
            inst = extract_instance(coarse, cfg)
            probs = crop_patches(target.astype(np.float32), inst.boxes, cfg.padding)
            out[i]['segmentation'] = encode(reassemble_instance(coarse, inst, probs,
                                                                cfg.padding))
    return out
