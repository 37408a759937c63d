"""Cut boundary patches of coarse instances into a patch dataset for training/testing.

    python tools/split_patches.py COARSE_JSON GT_JSON IMG_DIR OUT_DIR --mode train

writes OUT_DIR/{img_dir,mask_dir,ann_dir,detail_dir}/MODE, the layout RefineDataset reads.
"""
import argparse

from bpr.apis.patch_dataset import split_patches
from bpr.core import PatchConfig
from bpr.core.io import check_output, cli, int_arg
from bpr.core.patches import SAMPLING_HELP, SAMPLINGS, setting_arg


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coarse_json', help='coarse results, COCO form (*.segm.json)')
    parser.add_argument('gt_json', help='COCO ground truth of the same images')
    parser.add_argument('img_dir', help='folder of the images (file_name relative to it)')
    parser.add_argument('out_dir', help='output folder (DATA_ROOT of training)')
    parser.add_argument('--mode', choices=['train', 'val'], default='train')
    parser.add_argument('--iou-thresh', type=setting_arg('iou_thresh'), default=0.25,
                        help='NMS IoU threshold of boundary boxes (larger: more patches)')
    parser.add_argument('--patch-size', type=setting_arg('patch_size'), default=64)
    parser.add_argument('--padding', type=setting_arg('padding'), default=0)
    parser.add_argument('--sampling', choices=SAMPLINGS, default='nms', help=SAMPLING_HELP)
    parser.add_argument('--sample-inst', type=int_arg(1), help='keep N random instances')
    parser.add_argument('--seed', type=int, default=0, help='seed of --sample-inst')
    parser.add_argument('--num-proc', type=int_arg(1), default=1, help='worker processes')
    args = parser.parse_args(argv)
    check_output(args.out_dir, folder=True)
    n = split_patches(args.coarse_json, args.gt_json, args.img_dir, args.out_dir,
                      args.mode, PatchConfig(args.patch_size, args.padding, args.iou_thresh,
                                                 args.sampling),
                      args.sample_inst, args.seed, args.num_proc)
    print(f'{n} patches written to {args.out_dir} ({args.mode})')


if __name__ == '__main__':
    main()
