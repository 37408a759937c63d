"""Keep coarse instances that overlap a ground-truth instance of their category.

    python tools/filter.py COARSE_JSON GT_JSON OUT_JSON [--iou-thresh 0.5]
"""
import argparse

from bpr.core.io import check_output, cli, dump_json, float_arg, int_arg, load_gt, load_results
from bpr.core.matching import filter_results


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coarse_json')
    parser.add_argument('gt_json')
    parser.add_argument('out_json')
    parser.add_argument('--iou-thresh', type=float_arg(0, 1), default=0.5,
                        help='keep instances whose best GT IoU is above this')
    parser.add_argument('--num-proc', type=int_arg(1), default=1, help='worker processes')
    args = parser.parse_args(argv)
    check_output(args.out_json, [args.coarse_json, args.gt_json])
    gt = load_gt(args.gt_json)
    results = load_results(args.coarse_json, gt, args.gt_json)
    kept = filter_results(results, gt, args.iou_thresh, args.num_proc, progress=True)
    dump_json(kept, args.out_json)
    print(f'kept {len(kept)} of {len(results)} instances')


if __name__ == '__main__':
    main()
