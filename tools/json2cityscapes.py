"""COCO-form results JSON -> Cityscapes-form results folder (txt + PNG).

    python tools/json2cityscapes.py RESULTS_JSON GT_JSON OUT_DIR
"""
import argparse

from bpr.core.cityscapes import coco_to_cityscapes
from bpr.core.io import check_output, cli, int_arg, load_gt, load_results


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('results_json')
    parser.add_argument('gt_json', help='instancesonly_filtered_gtFine_*.json')
    parser.add_argument('out_dir')
    parser.add_argument('--num-proc', type=int_arg(1), default=1, help='worker processes')
    args = parser.parse_args(argv)
    check_output(args.out_dir, folder=True)
    gt = load_gt(args.gt_json)
    coco_to_cityscapes(load_results(args.results_json, gt, args.gt_json), gt, args.out_dir,
                       args.num_proc)


if __name__ == '__main__':
    main()
