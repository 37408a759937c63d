"""Draw coarse vs refined contours (and GT, and the selected patches) on images.

    python tools/visualize.py GT_JSON IMG_DIR COARSE_JSON REFINED_JSON OUT_DIR [--num 5]
        [--best] [--crop] [--gt] [--checkpoint CKPT]

Writes OUT_DIR/<image stem>.png: left the coarse contours (orange) with the selected patches
(white boxes), right the refined contours (green); GT contours (blue, thin) with --gt. The
patches shown are those that ``--checkpoint`` (default: the project's model) refines: its
patch size, NMS IoU threshold and ``min_size``, unless the options below say otherwise.
"""
import argparse
import os
import os.path as osp
import sys

import cv2
import numpy as np

from bpr.apis.inference import checkpoint_settings, for_model, patch_config
from bpr.core import decode, extract_instance
from bpr.core.io import check_output, cli, group_by_image, int_arg, load_gt, load_results
from bpr.core.patches import BOX_SETTINGS, setting_arg
from bpr.core.visualize import instances_window, side_by_side
from bpr.evaluation import largest_gains


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('img_dir')
    parser.add_argument('coarse_json')
    parser.add_argument('refined_json')
    parser.add_argument('out_dir')
    parser.add_argument('--image-ids', type=int, nargs='+', help='default: the first --num')
    parser.add_argument('--best', action='store_true',
                        help='the --num images with the largest Boundary-IoU gain instead')
    parser.add_argument('--num', type=int_arg(1), default=5)
    parser.add_argument('--gt', action='store_true', help='draw the GT contours too')
    parser.add_argument('--crop', action='store_true', help='crop to the instances')
    parser.add_argument('--checkpoint', default='default',
                        help="whose patches are shown: a checkpoint file, 'default' (the "
                        "project's model) or 'none' (NMS IoU 0.25, patch 64, every instance)")
    for name in BOX_SETTINGS:
        parser.add_argument('--' + name.replace('_', '-'), type=setting_arg(name),
                            help="default: the checkpoint's own")
    args = parser.parse_args(argv)
    cfg = for_model(patch_config(args), checkpoint_settings(args.checkpoint))
    check_output(args.out_dir, folder=True)
    gt = load_gt(args.gt_json)
    coarse = load_results(args.coarse_json, gt, args.gt_json)
    refined = load_results(args.refined_json, gt, args.gt_json)
    if len(coarse) != len(refined):
        sys.exit(f'error: {args.refined_json}: {len(refined)} instances, {args.coarse_json} '
                 f'has {len(coarse)}')
    images = {img['id']: img for img in gt['images']}
    groups = group_by_image(coarse)
    ids = args.image_ids or (largest_gains(gt, coarse, refined) if args.best else
                             sorted(groups))[:args.num]
    os.makedirs(args.out_dir, exist_ok=True)
    for image_id in ids:
        info = images[image_id]
        h, w = info['height'], info['width']
        img = cv2.imread(osp.join(args.img_dir, info['file_name']))
        idx = groups.get(image_id, [])
        cm = [decode(coarse[i]['segmentation'], h, w) for i in idx]
        rm = [decode(refined[i]['segmentation'], h, w) for i in idx]
        gm = [decode(a['segmentation'], h, w) for a in gt['annotations']
              if a['image_id'] == image_id] if args.gt else None
        boxes = np.concatenate([extract_instance(m, cfg).boxes for m in cm] or
                               [np.zeros((0, 4), int)])
        pic = side_by_side(img, cm, rm, gm, boxes,
                           window=instances_window(cm) if args.crop else None)
        out = osp.join(args.out_dir, osp.splitext(osp.basename(info['file_name']))[0] + '.png')
        cv2.imwrite(out, pic)
        print(out)


if __name__ == '__main__':
    main()
