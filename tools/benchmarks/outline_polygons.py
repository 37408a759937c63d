"""How polygonal a set's outlines are, and results with their outlines made polygons.

    python tools/benchmarks/outline_polygons.py GT_JSON [GT_JSON ...]
    python tools/benchmarks/outline_polygons.py --simplify RESULTS_JSON OUT_PREFIX --eps 0.5 1

The first form: for every non-crowd instance of at least ``--min-area`` px, its outlines
simplified to polygons (``cv2.approxPolyDP``, at most ``eps`` px from the outline, holes
included): vertices per 100 px of outline, and the Boundary IoU of the polygon mask with the
original (mean, and the share at or above 0.95). Clicked polygons (COCO's) keep few vertices
at 1 px; masks drawn free-hand or thresholded from soft ones need many. The second writes
OUT_PREFIX{eps}.json: the results with every mask replaced by its polygon mask, the other
fields kept.
"""
import argparse
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from bpr.core.io import check_output, cli, dump_json, load_json
from bpr.core.masks import decode, encode
from bpr.evaluation.boundary import mask_to_boundary


def polygon_mask(mask: np.ndarray, eps: float) -> Tuple[np.ndarray, int, float]:
    """``mask`` with its outlines replaced by polygons within ``eps`` px of them, their
    number of vertices and the outlines' length in px."""
    contours, hierarchy = cv2.findContours(np.ascontiguousarray(mask, np.uint8),
                                           cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    if not contours:
        return out.astype(bool), 0, 0.0
    polygons = [cv2.approxPolyDP(c, eps, True) for c in contours]
    hole = hierarchy[0][:, 3] >= 0
    # outer outlines first, then their holes
    cv2.fillPoly(out, [p for p, h in zip(polygons, hole) if not h], 1)
    holes = [p for p, h in zip(polygons, hole) if h]
    if holes:
        cv2.fillPoly(out, holes, 0)
    length = sum(cv2.arcLength(c, True) for c in contours)
    return out.astype(bool), sum(len(p) for p in polygons), length


def boundary_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Boundary IoU of two masks (d = 2 % of the diagonal)."""
    ba, bb = mask_to_boundary(a), mask_to_boundary(b)
    return (ba & bb).sum() / max(1, (ba | bb).sum())


def set_stats(gt_json: str, eps: Sequence[float], min_area: int) -> List[tuple]:
    """For each ``eps``: instances, vertices per 100 px, mean Boundary IoU of the polygon
    masks with the originals, share >= 0.95 (each mask decoded once)."""
    gt = load_json(gt_json, 'ground truth')
    images = {img['id']: img for img in gt['images']}
    vertices, length = np.zeros(len(eps)), np.zeros(len(eps))
    ious = [[] for _ in eps]
    for ann in gt['annotations']:
        if ann.get('iscrowd') or ann.get('area', min_area) < min_area:
            continue
        img = images[ann['image_id']]
        mask = decode(ann['segmentation'], img['height'], img['width']).astype(bool)
        for k, e in enumerate(eps):
            poly, n, size = polygon_mask(mask, e)
            vertices[k] += n
            length[k] += size
            ious[k].append(boundary_iou(mask, poly))
    return [(len(iou), 100 * v / max(size, 1), np.mean(iou), np.mean(np.array(iou) >= 0.95))
            for v, size, iou in zip(vertices, length, ious)]


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('files', nargs='+', metavar='GT_JSON | RESULTS_JSON OUT_PREFIX')
    parser.add_argument('--simplify', action='store_true',
                        help='write the results of RESULTS_JSON with polygon masks')
    parser.add_argument('--eps', type=float, nargs='+', default=[0.5, 1.0, 2.0],
                        help='largest distance of a polygon from the outline, px')
    parser.add_argument('--min-area', type=int, default=4000,
                        help='instances smaller than this (px) are left out')
    args = parser.parse_args(argv)
    if args.simplify:
        if len(args.files) != 2:
            parser.error('--simplify takes RESULTS_JSON OUT_PREFIX')
        outs = [f'{args.files[1]}{eps:g}.json' for eps in args.eps]
        for path in outs:
            check_output(path, [args.files[0]])
        results = load_json(args.files[0], 'results')
        masks = [decode(r['segmentation'], *r['segmentation']['size']).astype(bool)
                 for r in results]
        for eps, path in zip(args.eps, outs):
            dump_json([dict(r, segmentation=encode(polygon_mask(m, eps)[0]))
                       for r, m in zip(results, masks)], path)
        return
    print('| ground truth | ε px | instances | vertices / 100 px | Boundary IoU | >= 0.95 |')
    print('|---|---:|---:|---:|---:|---:|')
    for gt_json in args.files:
        for eps, (n, density, mean, share) in zip(args.eps,
                                                  set_stats(gt_json, args.eps, args.min_area)):
            print(f'| {gt_json} | {eps:g} | {n} | {density:.2f} | {mean:.4f} | {share:.3f} |')


if __name__ == '__main__':
    main()
