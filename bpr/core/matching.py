"""Matching coarse instances to ground-truth instances by mask IoU."""
from collections import defaultdict
from typing import Dict, List

import numpy as np
import pycocotools.mask as mask_utils

from .parallel import parallel_map


def to_rle(segm, height: int, width: int) -> dict:
    """Compressed RLE of a COCO segmentation (polygons, uncompressed or compressed RLE)."""
    if isinstance(segm, list):
        return mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
    if isinstance(segm['counts'], list):
        return mask_utils.frPyObjects(segm, height, width)
    return segm


def gt_by_image(gt: dict) -> Dict[int, List[dict]]:
    """Non-crowd ground-truth annotations of each image id."""
    groups = defaultdict(list)
    for ann in gt['annotations']:
        if not ann.get('iscrowd', 0):
            groups[ann['image_id']].append(ann)
    return groups


def best_gt(results: List[dict], anns: List[dict], height: int, width: int):
    """For each result of one image: ``(best IoU, index into anns or -1)`` with a GT instance
    of the same category."""
    if not results or not anns:
        return np.zeros(len(results)), np.full(len(results), -1)
    dts = [to_rle(r['segmentation'], height, width) for r in results]
    gts = [to_rle(a['segmentation'], height, width) for a in anns]
    iou = np.asarray(mask_utils.iou(dts, gts, [0] * len(gts))).reshape(len(dts), len(gts))
    same = np.array([r['category_id'] for r in results])[:, None] == \
        np.array([a['category_id'] for a in anns])[None, :]
    iou = np.where(same, iou, -1.0)
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(dts)), best]
    return np.maximum(best_iou, 0), np.where(best_iou > 0, best, -1)


def _image_best_iou(job) -> np.ndarray:
    results, anns, height, width = job
    return best_gt(results, anns, height, width)[0]


def filter_results(results: List[dict], gt: dict, iou_thresh: float = 0.5,
                   num_proc: int = 1, progress: bool = False) -> List[dict]:
    """Results whose best same-category non-crowd GT IoU is above ``iou_thresh``, in order."""
    images = {img['id']: img for img in gt['images']}
    anns = gt_by_image(gt)
    by_image = defaultdict(list)
    for i, res in enumerate(results):
        by_image[res['image_id']].append(i)
    jobs = [([results[i] for i in idx], anns[image_id], images[image_id]['height'],
             images[image_id]['width']) for image_id, idx in by_image.items()]
    keep = np.zeros(len(results), bool)
    for idx, ious in zip(by_image.values(),
                         parallel_map(_image_best_iou, jobs, num_proc, 'filter', progress)):
        keep[idx] = ious > iou_thresh
    return [r for r, k in zip(results, keep) if k]
