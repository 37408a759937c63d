"""Where the errors left after refining lie: boundary AP at each IoU threshold, and the pixels
wrongly added or missing per instance by their distance to the annotated outline.

    python tools/benchmarks/error_bands.py GT_JSON RESULTS_JSON [RESULTS_JSON ...]

Each result instance is compared with its best-matching GT instance (mask IoU, same category,
non-crowd). A pixel wrongly added at distance 1 lies just outside the GT mask, a missing one
at distance 1 just inside it; errors of a pixel or so are where labels of different
conventions disagree, errors farther out are what a coarse mask gets wrong.
"""
import argparse
import os.path as osp

import cv2
import numpy as np

from bpr.core.io import cli, group_by_image, load_gt, load_results
from bpr.core.masks import decode, encode
from bpr.core.matching import best_gt, gt_by_image
from bpr.evaluation import ap_per_threshold

# distance to the GT outline in px (L2 distance transform: diagonal neighbours are at 1.4)
EDGES = (0, 1.5, 2.5, 3.5, 5.5, 10.5, np.inf)
BANDS = ('1', '2', '3', '4-5', '6-10', '>10')


def error_bands(gt: dict, results: list):
    """Pixels wrongly added and missing per result instance, by distance to the outline of
    its best-matching GT instance, and the results with part of those errors corrected.

    Returns ``(counts, near_fixed, far_fixed)``: ``counts`` (N, 2, len(BANDS)), added
    ([:, 0]) and missing ([:, 1]); the results with their errors within 1 px of the outline
    set to the GT, and with those beyond. An instance that matches no GT instance counts
    every pixel as added, beyond the last band, and is left as it is."""
    images = {img['id']: img for img in gt['images']}
    anns = gt_by_image(gt)
    out = np.zeros((len(results), 2, len(BANDS)))
    near_fixed, far_fixed = [dict(r) for r in results], [dict(r) for r in results]
    for image_id, idx in group_by_image(results).items():
        h, w = images[image_id]['height'], images[image_id]['width']
        gts = anns[image_id]
        _, best = best_gt([results[i] for i in idx], gts, h, w)
        for i, match in zip(idx, best.tolist()):
            mask = decode(results[i]['segmentation'], h, w, check=False)
            if match < 0:
                out[i, 0, -1] = mask.sum()
                continue
            g = decode(gts[match]['segmentation'], h, w, check=False).astype(np.uint8)
            outside = cv2.distanceTransform(1 - g, cv2.DIST_L2, 5)
            inside = cv2.distanceTransform(g, cv2.DIST_L2, 5)
            g = g.astype(bool)
            out[i, 0] = np.histogram(outside[mask & ~g], EDGES)[0]
            out[i, 1] = np.histogram(inside[g & ~mask], EDGES)[0]
            near = np.where(g, inside, outside) < EDGES[1]
            for fixed, where in ((near_fixed, near), (far_fixed, ~near)):
                fixed[i]['segmentation'] = encode(np.where(where, g, mask))
    return out, near_fixed, far_fixed


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('results', nargs='+', metavar='RESULTS_JSON')
    args = parser.parse_args(argv)
    gt = load_gt(args.gt_json)
    sets = [(osp.basename(p), load_results(p, gt, args.gt_json)) for p in args.results]
    thresholds = [f'{t:.2f}' for t in np.linspace(0.5, 0.95, 10)]
    print('Boundary AP at each IoU threshold\n')
    print('| results | ' + ' | '.join(thresholds) + ' | bAP |')
    print('|---|' + '---:|' * (len(thresholds) + 1))
    # one entry per file, in the order given (two files may share a name)
    plain = [ap_per_threshold(gt, results) for _, results in sets]
    for (name, _), ap in zip(sets, plain):
        print(f'| {name} | ' + ' | '.join(f'{v:.2f}' for v in ap) + f' | {ap.mean():.2f} |')
    bands = [error_bands(gt, results) for _, results in sets]
    print('\nPixels per instance by distance to the GT outline (px): wrongly added (outside the '
          'GT mask) / missing (inside it)\n')
    print('| results | instances | ' + ' | '.join(BANDS) + ' | within 1 | beyond 1 |')
    print('|---|---:|' + '---:|' * (len(BANDS) + 2))
    for (name, results), (counts, _, _) in zip(sets, bands):
        per = counts.mean(axis=0) if results else np.zeros((2, len(BANDS)))
        cells = [f'{a:.1f} / {m:.1f}' for a, m in per.T]
        near, far = per[:, 0].sum(), per[:, 1:].sum()
        print(f'| {name} | {len(results)} | ' + ' | '.join(cells) + f' | {near:.1f} | {far:.1f} |')

    print('\nBoundary AP with part of the errors corrected (set to the GT)\n')
    print('| results | as they are | errors within 1 px corrected | beyond 1 px corrected |')
    print('|---|---:|---:|---:|')
    for (name, _), ap, (_, near_fixed, far_fixed) in zip(sets, plain, bands):
        row = [ap.mean()] + [ap_per_threshold(gt, r).mean() for r in (near_fixed, far_fixed)]
        print(f'| {name} | ' + ' | '.join(f'{v:.2f}' for v in row) + ' |')


if __name__ == '__main__':
    main()
