"""Speed of the boundary bands behind boundary AP, against Boundary IoU's reference code.

    python tools/benchmarks/bench_eval.py GT_JSON RESULTS_JSON [--repeat 3] [--out docs/x.md]

The band of every GT and result instance (what ``tools/eval.py`` computes once per instance
for bAP and mBIoU), two ways: the reference (decode to a C-order mask, ``d`` erosions by a
3x3 kernel over the whole image, encode) and bpr's (one ``(2d+1)`` erosion inside the
instance's box, Fortran order throughout). Both must give the same RLEs. Then the whole
evaluation (``coco_mask_metrics``: mask AP, boundary AP, boundary F-score AP, mIoU/mBIoU),
with the reference bands and the F-score of every detection/GT pair against bpr's (pairs too
far apart to match are not compared), which must give the same metrics. Medians (min-max) of
``--repeat`` runs, the two ways alternating within each run.
"""
import argparse
import contextlib
import io
import sys
from functools import partial

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO

from bpr.core import encode
from bpr.core.io import load_gt, load_results
from bpr.evaluation import boundary
from bpr.evaluation.boundary import (FScoreCOCOeval, _BoundaryCache, boxed_fscore,
                                     coco_mask_metrics)
from bench_speed import median_spread, time_alternating, write_report


def reference_band(coco: COCO, ann: dict, dilation_ratio: float = 0.02) -> dict:
    """Boundary IoU's reference implementation (``mask_to_boundary`` of boundary-iou-api)."""
    mask = coco.annToMask(ann)
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h * h + w * w))))
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1:h + 1, 1:w + 1]
    return encode(mask - (mask & eroded))


class ReferenceCache(_BoundaryCache):
    """The evaluation's band cache with the reference bands."""

    def __call__(self, coco, ann):
        key = (id(coco), ann['id'])
        if key not in self._rles:
            self._rles[key] = reference_band(coco, ann, self.dilation_ratio)
        return self._rles[key]


class AllPairsFScore(FScoreCOCOeval):
    """AF comparing every detection with every GT instance, however far apart."""

    def overlap(self, imgId, dt, gt):
        img = self.cocoGt.imgs[imgId]
        h, w = img['height'], img['width']
        tol = int(np.ceil(self.tolerance_ratio * np.hypot(h, w)))
        gms = [self.cocoGt.annToMask(g) for g in gt]
        dms = [self.cocoDt.annToMask(d) for d in dt]
        gboxes = [mask_utils.toBbox(g['segmentation']) for g in gt]
        dboxes = [mask_utils.toBbox(d['segmentation']) for d in dt]
        return np.array([[boxed_fscore(dm, gm, db, gb, tol) for gm, gb in zip(gms, gboxes)]
                         for dm, db in zip(dms, dboxes)]).reshape(len(dt), len(gt))


def evaluate_as_reference(gt: dict, results: list) -> dict:
    """``coco_mask_metrics`` with the reference bands and AF over all pairs."""
    boundary._BoundaryCache, boundary.FScoreCOCOeval = ReferenceCache, AllPairsFScore
    try:
        return coco_mask_metrics(gt, results, fscore=True)
    finally:
        boundary._BoundaryCache, boundary.FScoreCOCOeval = _BoundaryCache, FScoreCOCOeval


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('results_json')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    gt = load_gt(args.gt_json)
    results = load_results(args.results_json, gt, args.gt_json)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
    anns = [(c, a) for c in (coco_gt, coco_dt) for a in c.loadAnns(c.getAnnIds())]

    def bpr_bands():
        cache = _BoundaryCache()
        return [cache(c, a) for c, a in anns]

    assert bpr_bands() == [reference_band(c, a) for c, a in anns], 'bands differ'
    evaluate = partial(coco_mask_metrics, gt, results, fscore=True)
    assert evaluate_as_reference(gt, results) == evaluate(), 'metrics differ'
    times = time_alternating({'reference': lambda: [reference_band(c, a) for c, a in anns],
                              'bpr': bpr_bands}, args.repeat)
    whole = time_alternating({'reference': lambda: evaluate_as_reference(gt, results),
                              'bpr': evaluate}, args.repeat)
    ratios = [r / b for r, b in zip(times['reference'], times['bpr'])]
    whole_ratios = [r / b for r, b in zip(whole['reference'], whole['bpr'])]
    n = len(anns)
    write_report([
        f'{len(gt["images"])} images, {n} instances (GT and results); median (min-max) of '
        f'{args.repeat} runs.', '',
        '| boundary bands | ms / instance |', '|---|---:|',
        f'| Boundary IoU reference (full image, d erosions) | '
        f'{median_spread(times["reference"], 1e3 / n, ".3f")} |',
        f'| bpr (box, one erosion, Fortran order) | '
        f'{median_spread(times["bpr"], 1e3 / n, ".3f")} |',
        f'| speed-up | {median_spread(ratios)}x |', '',
        '| whole evaluation (AP, bAP, AF, mIoU/mBIoU) | s |', '|---|---:|',
        f'| reference bands, AF over all pairs | {median_spread(whole["reference"])} |',
        f'| bpr | {median_spread(whole["bpr"])} |',
        f'| speed-up | {median_spread(whole_ratios)}x |'],
        args.out)


if __name__ == '__main__':
    sys.exit(main())
