"""Cityscapes-form results folder (txt + PNG) -> COCO-form results JSON.

    python tools/cityscapes2json.py COARSE_DIR GT_JSON OUT_JSON
"""
import argparse

from bpr.core.cityscapes import cityscapes_to_coco
from bpr.core.io import check_output, cli, dump_json, int_arg, load_gt


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pred_dir', help='folder of *_leftImg8bit_pred.txt and mask PNGs')
    parser.add_argument('gt_json', help='instancesonly_filtered_gtFine_*.json')
    parser.add_argument('out_json')
    parser.add_argument('--num-proc', type=int_arg(1), default=1, help='worker processes')
    args = parser.parse_args(argv)
    check_output(args.out_json, [args.gt_json])
    results = cityscapes_to_coco(args.pred_dir, load_gt(args.gt_json), args.num_proc)
    dump_json(results, args.out_json)
    print(f'{len(results)} instances -> {args.out_json}')


if __name__ == '__main__':
    main()
