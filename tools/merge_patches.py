"""Paste refined patches (tools/test.py --out) back into the coarse instances.

    python tools/merge_patches.py COARSE_JSON GT_JSON PROBS_PKL DATA_DIR OUT_JSON
"""
import argparse

from bpr.apis.patch_dataset import merge_patches
from bpr.core.io import check_output, cli, int_arg
from bpr.core.patches import setting_arg


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coarse_json', help='the coarse results the patches were cut from')
    parser.add_argument('gt_json', help='COCO ground truth of the same images')
    parser.add_argument('probs_pkl', help='per-patch probabilities from tools/test.py --out')
    parser.add_argument('data_dir', help='the patch dataset (OUT_DIR of split_patches.py)')
    parser.add_argument('out_json', help='refined results, COCO form')
    parser.add_argument('--mode', default='val', help='split of the patch dataset')
    parser.add_argument('--num-proc', type=int_arg(1), default=1, help='worker processes')
    parser.add_argument('--min-part', type=setting_arg('min_part'), default=0,
                        help='specks and pinholes smaller than this (px) that refining made are '
                        'removed (default 0: none, as the original)')
    args = parser.parse_args(argv)
    check_output(args.out_json, [args.coarse_json, args.gt_json, args.probs_pkl])
    merge_patches(args.coarse_json, args.gt_json, args.probs_pkl, args.data_dir,
                  args.out_json, args.mode, args.num_proc, min_part=args.min_part)


if __name__ == '__main__':
    main()
