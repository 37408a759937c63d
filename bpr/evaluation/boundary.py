"""Mask AP and boundary AP (Boundary IoU, Cheng et al., CVPR 2021) of COCO-form results."""
import contextlib
import io
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..core.masks import decode, encode, foreground_box


def mask_to_boundary(mask: np.ndarray, dilation_ratio: float = 0.02,
                     box: Optional[Sequence[float]] = None) -> np.ndarray:
    """Pixels of ``mask`` within ``d = dilation_ratio * image diagonal`` of its contour.

    The reference implementation's band (``d`` erosions by a 3x3 kernel, zero outside the
    image), computed as one erosion by a ``(2d+1)`` square inside the mask's bounding box
    ``box`` (``x, y, w, h``; found if not given): outside it the mask is zero anyway, so the
    result is the same, at the cost of the box. The band has the memory order of ``mask``.
    """
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h * h + w * w))))
    if box is None:
        box = foreground_box(mask)
    else:
        x, y, bw, bh = (int(v) for v in box)
        box = (slice(y, y + bh), slice(x, x + bw)) if bw and bh else None
    band = np.zeros_like(mask, dtype=bool)
    if box is not None:
        roi = np.ascontiguousarray(mask[box], dtype=np.uint8)
        eroded = cv2.erode(roi, np.ones((2 * d + 1, 2 * d + 1), np.uint8),
                           borderType=cv2.BORDER_CONSTANT, borderValue=0)
        band[box] = roi > eroded
    return band


class _PairwiseCOCOeval(COCOeval):
    """COCOeval with the overlap of a detection and a GT instance given by ``overlap``."""

    def __init__(self, coco_gt, coco_dt):
        super().__init__(coco_gt, coco_dt, 'segm')

    def overlap(self, imgId, dt: List[dict], gt: List[dict]) -> np.ndarray:
        raise NotImplementedError

    def computeIoU(self, imgId, catId):
        # COCOeval's own selection: detections by score, at most maxDets of them
        p = self.params
        gt = self._gts[imgId, catId] if p.useCats else \
            [a for c in p.catIds for a in self._gts[imgId, c]]
        dt = self._dts[imgId, catId] if p.useCats else \
            [a for c in p.catIds for a in self._dts[imgId, c]]
        if not gt or not dt:
            return []
        order = np.argsort([-d['score'] for d in dt], kind='mergesort')
        return self.overlap(imgId, [dt[i] for i in order[:p.maxDets[-1]]], gt)


class _BoundaryCache:
    """Boundary-band RLEs of the annotations of COCO objects, computed once."""

    def __init__(self, dilation_ratio: float = 0.02):
        self.dilation_ratio = dilation_ratio
        self._rles = {}

    def __call__(self, coco, ann) -> dict:
        key = (id(coco), ann['id'])
        if key not in self._rles:
            rle = coco.annToRLE(ann)
            # Fortran-order decode (of the object's columns only) and band: no transposing
            # copy on the way back to RLE
            band = mask_to_boundary(decode(rle, *rle['size'], check=False),
                                    self.dilation_ratio, mask_utils.toBbox(rle))
            self._rles[key] = encode(band)
        return self._rles[key]


class BoundaryCOCOeval(_PairwiseCOCOeval):
    """COCOeval whose IoU is ``min(mask IoU, boundary IoU)``: boundary AP."""

    def __init__(self, coco_gt, coco_dt, dilation_ratio: float = 0.02):
        super().__init__(coco_gt, coco_dt)
        self.boundary_rle = _BoundaryCache(dilation_ratio)

    def overlap(self, imgId, dt, gt):
        crowd = [int(g['iscrowd']) for g in gt]
        mask_iou = mask_utils.iou([d['segmentation'] for d in dt],
                                  [g['segmentation'] for g in gt], crowd)
        b_iou = mask_utils.iou([self.boundary_rle(self.cocoDt, d) for d in dt],
                               [self.boundary_rle(self.cocoGt, g) for g in gt], crowd)
        return np.minimum(mask_iou, b_iou)


def instance_ious(coco_gt, coco_dt, dilation_ratio: float = 0.02,
                  boundary_rle=None) -> np.ndarray:
    """``(N, 2)`` mask IoU and boundary IoU of every detection with its best same-category
    non-crowd GT instance (by mask IoU), in the order of ``coco_dt``; zeros when none overlaps.

    Unlike AP this pairs each output instance with the object it segments, which shows how
    much a refiner moves each boundary. ``boundary_rle`` (a :class:`BoundaryCOCOeval`'s) reuses
    boundary bands already computed.
    """
    boundary = boundary_rle or _BoundaryCache(dilation_ratio)
    dts = coco_dt.loadAnns(coco_dt.getAnnIds())
    out = np.zeros((len(dts), 2))
    by_image = {}
    for i, d in enumerate(dts):
        by_image.setdefault(d['image_id'], []).append(i)
    for img_id, idx in by_image.items():
        gts = [g for g in coco_gt.imgToAnns[img_id] if not g.get('iscrowd', 0)]
        if not gts:
            continue
        dt = [dts[i] for i in idx]
        shape, crowd = (len(dt), len(gts)), [0] * len(gts)
        iou = np.asarray(mask_utils.iou([coco_dt.annToRLE(d) for d in dt],
                                        [coco_gt.annToRLE(g) for g in gts], crowd))
        same = np.array([d['category_id'] for d in dt])[:, None] == \
            np.array([g['category_id'] for g in gts])[None, :]
        iou = np.where(same, iou.reshape(shape), 0.0)
        b_iou = np.asarray(mask_utils.iou([boundary(coco_dt, d) for d in dt],
                                          [boundary(coco_gt, g) for g in gts], crowd))
        rows, best = np.arange(len(dt)), iou.argmax(axis=1)
        pairs = np.stack([iou[rows, best], b_iou.reshape(shape)[rows, best]], axis=1)
        out[idx] = np.where(pairs[:, :1] > 0, pairs, 0.0)
    return out


def _contour(mask: np.ndarray) -> np.ndarray:
    """1-pixel inner contour of a binary mask (zero outside the array)."""
    m = mask.astype(np.uint8)
    eroded = cv2.erode(cv2.copyMakeBorder(m, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0),
                       np.ones((3, 3), np.uint8))[1:-1, 1:-1]
    return m.astype(bool) & ~eroded.astype(bool)


def boundary_fscore(pred: np.ndarray, gt: np.ndarray, tolerance: int) -> float:
    """F-score of the 1-px contours of two masks, a contour pixel counting as matched when
    the other contour lies within ``tolerance`` pixels (SegFix's / the BPR paper's metric)."""
    bp, bg = _contour(pred), _contour(gt)
    n_p, n_g = bp.sum(), bg.sum()
    if n_p == 0 or n_g == 0:
        return float(n_p == n_g)
    # distance of every pixel to the nearest contour pixel of the other mask
    dist_g = cv2.distanceTransform((~bg).astype(np.uint8), cv2.DIST_L2, 3)
    dist_p = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 3)
    precision = (dist_g[bp] <= tolerance).mean()
    recall = (dist_p[bg] <= tolerance).mean()
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def boxed_fscore(pred: np.ndarray, gt: np.ndarray, pred_box, gt_box, tolerance: int) -> float:
    """:func:`boundary_fscore` of two full-image masks computed inside the union of their
    boxes (``x, y, w, h``) grown by the tolerance: the same value, at the cost of the boxes."""
    h, w = gt.shape
    x1 = int(max(min(pred_box[0], gt_box[0]) - tolerance - 1, 0))
    y1 = int(max(min(pred_box[1], gt_box[1]) - tolerance - 1, 0))
    x2 = int(min(max(pred_box[0] + pred_box[2], gt_box[0] + gt_box[2]) + tolerance + 2, w))
    y2 = int(min(max(pred_box[1] + pred_box[3], gt_box[1] + gt_box[3]) + tolerance + 2, h))
    return boundary_fscore(pred[y1:y2, x1:x2], gt[y1:y2, x1:x2], tolerance)


class FScoreCOCOeval(_PairwiseCOCOeval):
    """COCOeval whose overlap is the boundary F-score: AF, AP-like over thresholds .5:.95.

    Tolerance: ``ceil(0.00088 * image diagonal)`` px (3 px at 2048x1024). Pairs are compared
    inside the union of their boxes grown by the tolerance; pairs too far apart to match
    anywhere score 0 without being compared.
    """

    def __init__(self, coco_gt, coco_dt, tolerance_ratio: float = 0.00088):
        super().__init__(coco_gt, coco_dt)
        self.tolerance_ratio = tolerance_ratio

    def overlap(self, imgId, dt, gt):
        img = self.cocoGt.imgs[imgId]
        h, w = img['height'], img['width']
        tol = int(np.ceil(self.tolerance_ratio * np.hypot(h, w)))
        gboxes = np.array([mask_utils.toBbox(g['segmentation']) for g in gt]).reshape(-1, 4)
        dboxes = np.array([mask_utils.toBbox(d['segmentation']) for d in dt]).reshape(-1, 4)
        # Pixel gap between the boxes of each pair, per axis. Contours further apart than the
        # tolerance match nowhere: F = 0. The chamfer distance of distanceTransform is at
        # least 0.955 x the axis gap, so a gap above 2 tol + 1 is safely such a pair.
        d0, d1 = dboxes[:, None, :2], dboxes[:, None, :2] + dboxes[:, None, 2:]
        g0, g1 = gboxes[None, :, :2], gboxes[None, :, :2] + gboxes[None, :, 2:]
        gap = np.maximum(g0 - d1, d0 - g1).max(axis=2) + 1
        empty = (dboxes[:, None, 2:] == 0).any(axis=2) | (gboxes[None, :, 2:] == 0).any(axis=2)
        scores = np.zeros((len(dt), len(gt)))
        pairs = np.argwhere((gap <= 2 * tol + 1) | empty)
        gms = {j: self.cocoGt.annToMask(gt[j]) for j in np.unique(pairs[:, 1])}
        dms = {i: self.cocoDt.annToMask(dt[i]) for i in np.unique(pairs[:, 0])}
        for i, j in pairs:
            scores[i, j] = boxed_fscore(dms[i], gms[j], dboxes[i], gboxes[j], tol)
        return scores


METRICS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')


def _summarize(evaluator) -> Dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {k: float(v) * 100 for k, v in zip(METRICS, evaluator.stats[:6])}


def _coco(gt: dict, *results: List[dict]):
    """pycocotools' GT object and one result object per list, quietly."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        return (coco_gt, *(coco_gt.loadRes([dict(r) for r in res]) if res else COCO()
                           for res in results))


def largest_gains(gt: dict, coarse: List[dict], refined: List[dict]) -> List[int]:
    """Image ids, the image whose instance gained the most Boundary IoU from ``coarse`` to
    ``refined`` (the same instances, in the same order) first; ties by id. A fixed rule
    for picking the examples shown, rather than picking them by eye."""
    if len(coarse) != len(refined):
        raise ValueError(f'{len(coarse)} coarse instances but {len(refined)} refined')
    if not coarse:
        return []
    coco_gt, before, after = _coco(gt, coarse, refined)
    gain = instance_ious(coco_gt, after)[:, 1] - instance_ious(coco_gt, before)[:, 1]
    best = {}
    for r, g in zip(coarse, gain):
        best[r['image_id']] = max(best.get(r['image_id'], -np.inf), g)
    return sorted(best, key=lambda i: (-best[i], i))


def ap_per_threshold(gt: dict, results: List[dict], boundary: bool = True,
                     dilation_ratio: float = 0.02) -> np.ndarray:
    """AP in percent at each of COCO's IoU thresholds 0.50, 0.55, ..., 0.95 (all sizes, 100
    detections), with boundary IoU (``boundary``) or mask IoU; their mean is bAP (AP).

    Shows at which thresholds the points are won or lost: sets of large, well segmented
    objects differ only at the highest ones."""
    if not results:
        return np.zeros(10)
    coco_gt, coco_dt = _coco(gt, results)
    evaluator = BoundaryCOCOeval(coco_gt, coco_dt, dilation_ratio) if boundary else \
        COCOeval(coco_gt, coco_dt, 'segm')
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval['precision'][:, :, :, 0, -1]  # (T, R, K): all areas, 100 dets
    valid = precision > -1
    return np.array([100 * p[v].mean() if v.any() else 0.0 for p, v in zip(precision, valid)])


def coco_mask_metrics(gt: dict, results: List[dict], boundary: bool = True,
                      dilation_ratio: float = 0.02, fscore: bool = False) -> Dict[str, float]:
    """``{'AP', 'AP50', ..., 'bAP', 'bAP50', ...}`` in percent for COCO-form results, with the
    per-instance means of :func:`instance_ious` (``'mIoU'``, ``'mBIoU'``), and with ``fscore``
    the boundary F-score AP ``'AF'``, ``'AF50'``, ``'AF75'``."""
    coco_gt, coco_dt = _coco(gt, results)
    if not results:
        keys = METRICS + tuple('b' + m for m in METRICS) + ('AF', 'AF50', 'AF75', 'mIoU',
                                                            'mBIoU')
        return {k: 0.0 for k in keys}
    out = _summarize(COCOeval(coco_gt, coco_dt, 'segm'))
    if boundary:
        evaluator = BoundaryCOCOeval(coco_gt, coco_dt, dilation_ratio)
        out.update({'b' + k: v for k, v in _summarize(evaluator).items()})
        ious = instance_ious(coco_gt, coco_dt, boundary_rle=evaluator.boundary_rle)
        m_iou, m_biou = ious.mean(axis=0) * 100
        out.update(mIoU=float(m_iou), mBIoU=float(m_biou))
    if fscore:
        f = _summarize(FScoreCOCOeval(coco_gt, coco_dt))
        out.update(AF=f['AP'], AF50=f['AP50'], AF75=f['AP75'])
    return out
