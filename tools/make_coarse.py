"""Mask R-CNN-like coarse results from COCO ground truth.

    python tools/make_coarse.py GT_JSON OUT_JSON [--grid 28 --jitter 0.05 --seed 0]
        [--morph 3 --noise 1.5 --thin 5]

Each GT instance is resampled through a GRID x GRID soft mask inside its jittered box and
pasted back (bilinear, threshold 0.5): the resolution loss that BPR repairs. ``--morph``,
``--noise`` and ``--thin`` add the other errors of real segmenters (too fat or thin, a wavy
boundary, missing thin parts), for training on a variety of coarse masks.
"""
import argparse

from bpr.core.coarse import make_coarse
from bpr.core.io import check_output, cli, dump_json, float_arg, int_arg, load_gt


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('out_json')
    parser.add_argument('--grid', type=int_arg(1), default=28, help='side of the soft-mask grid')
    parser.add_argument('--jitter', type=float_arg(0), default=0.05,
                        help='box jitter, fraction of box width/height per side')
    parser.add_argument('--score', type=float_arg(0, 1), help='fixed score (default: U[0.5, 1))')
    parser.add_argument('--drop', type=float_arg(0, 1), default=0.0, help='probability to drop one')
    parser.add_argument('--merge', type=float_arg(0, 1), default=0.0,
                        help='probability to merge one with the next of its category')
    parser.add_argument('--morph', type=int_arg(0), default=0,
                        help='dilate or erode by up to this many px (random per instance)')
    parser.add_argument('--noise', type=float_arg(0), default=0.0,
                        help='smooth random boundary displacement, px (std)')
    parser.add_argument('--thin', type=int_arg(0), default=0,
                        help='remove parts thinner than this many px')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    check_output(args.out_json, [args.gt_json])
    gt = load_gt(args.gt_json)
    results = make_coarse(gt, args.grid, args.jitter, args.score, args.drop, args.merge,
                          args.seed, args.morph, args.noise, args.thin)
    dump_json(results, args.out_json)
    print(f'{len(results)} coarse instances -> {args.out_json}')


if __name__ == '__main__':
    main()
