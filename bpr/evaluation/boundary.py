"""Mask AP and boundary AP (Boundary IoU, Cheng et al., CVPR 2021) of COCO-form results."""
import contextlib
import io
from typing import Dict, List

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..core.masks import encode


def mask_to_boundary(mask: np.ndarray, dilation_ratio: float = 0.02) -> np.ndarray:
    """Pixels of ``mask`` within ``d = dilation_ratio * image diagonal`` of its contour
    (the reference implementation: erosion by a 3x3 kernel, ``d`` times, zero border)."""
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h * h + w * w))))
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:h + 1, 1:w + 1]
    return mask.astype(bool) & ~eroded.astype(bool)


class BoundaryCOCOeval(COCOeval):
    """COCOeval whose IoU is ``min(mask IoU, boundary IoU)``: boundary AP."""

    def __init__(self, coco_gt, coco_dt, dilation_ratio: float = 0.02):
        super().__init__(coco_gt, coco_dt, 'segm')
        self.dilation_ratio = dilation_ratio
        self._boundaries = {}

    def _boundary(self, coco, ann) -> dict:
        key = (id(coco), ann['id'])
        if key not in self._boundaries:
            mask = coco.annToMask(ann)
            self._boundaries[key] = encode(mask_to_boundary(mask, self.dilation_ratio))
        return self._boundaries[key]

    def computeIoU(self, imgId, catId):
        p = self.params
        gt = self._gts[imgId, catId] if p.useCats else \
            [a for c in p.catIds for a in self._gts[imgId, c]]
        dt = self._dts[imgId, catId] if p.useCats else \
            [a for c in p.catIds for a in self._dts[imgId, c]]
        if not gt or not dt:
            return []
        order = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in order[:p.maxDets[-1]]]
        crowd = [int(g['iscrowd']) for g in gt]
        mask_iou = mask_utils.iou([d['segmentation'] for d in dt],
                                  [g['segmentation'] for g in gt], crowd)
        b_iou = mask_utils.iou([self._boundary(self.cocoDt, d) for d in dt],
                               [self._boundary(self.cocoGt, g) for g in gt], crowd)
        return np.minimum(mask_iou, b_iou)


METRICS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')


def _summarize(evaluator) -> Dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {k: float(v) * 100 for k, v in zip(METRICS, evaluator.stats[:6])}


def coco_mask_metrics(gt: dict, results: List[dict], boundary: bool = True,
                      dilation_ratio: float = 0.02) -> Dict[str, float]:
    """``{'AP', 'AP50', ..., 'bAP', 'bAP50', ...}`` in percent for COCO-form results."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(r) for r in results]) if results else COCO()
    if not results:
        return {k: 0.0 for k in METRICS + tuple('b' + m for m in METRICS)}
    out = _summarize(COCOeval(coco_gt, coco_dt, 'segm'))
    if boundary:
        b = _summarize(BoundaryCOCOeval(coco_gt, coco_dt, dilation_ratio))
        out.update({'b' + k: v for k, v in b.items()})
    return out
