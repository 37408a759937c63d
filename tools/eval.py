"""Mask AP and boundary AP of COCO-form results, several files side by side.

    python tools/eval.py GT_JSON coarse.json refined.json [--out metrics.json]

AP/AP50/AP75 from pycocotools; bAP* use Boundary IoU (d = 2% of the image diagonal; a detection
matches on min(mask IoU, boundary IoU)).
"""
import argparse
import os.path as osp
import sys

from bpr.core.io import InputError, dump_json, load_gt, load_results
from bpr.evaluation import coco_mask_metrics

SHOWN = ('AP', 'AP50', 'AP75', 'bAP', 'bAP50', 'bAP75')


def table(metrics: dict) -> str:
    names = list(metrics)
    width = max(12, *(len(n) for n in names))
    lines = [f'{"":<8}' + ''.join(f'{n:>{width + 2}}' for n in names)]
    for key in SHOWN:
        lines.append(f'{key:<8}' + ''.join(f'{metrics[n][key]:>{width + 2}.2f}' for n in names))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('results', nargs='+', help='COCO-form result files')
    parser.add_argument('--dilation-ratio', type=float, default=0.02,
                        help='boundary width as a fraction of the image diagonal')
    parser.add_argument('--out', help='write the metrics as JSON')
    args = parser.parse_args(argv)
    try:
        gt = load_gt(args.gt_json)
        metrics = {osp.basename(p): coco_mask_metrics(gt, load_results(p, gt, args.gt_json),
                                                      dilation_ratio=args.dilation_ratio)
                   for p in args.results}
    except InputError as err:
        sys.exit(f'error: {err}')
    print(table(metrics))
    if args.out:
        dump_json(metrics, args.out)


if __name__ == '__main__':
    main()
