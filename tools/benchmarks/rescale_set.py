"""A copy of a COCO set at another resolution: images and GT masks scaled by one factor.

    python tools/benchmarks/rescale_set.py GT_JSON IMG_DIR OUT_DIR --factor 2 [--every 2]

Writes ``OUT_DIR/gt.json`` and ``OUT_DIR/images/`` (the images under their own file names,
bicubic up, area down; masks resampled bilinearly at 0.5). ``--every N`` keeps every N-th
image by file name. For checking that a refiner's gain, and its best patch size, carry over
to photographs of another resolution.
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from bpr.core.io import (InputError, check_images, check_output, cli, dump_json, float_arg,
                         int_arg, load_gt, read_image)
from bpr.core.masks import decode, encode


def rescale_mask(mask: np.ndarray, size) -> np.ndarray:
    """Binary mask resampled to ``size`` ``(w, h)``: bilinear, thresholded at 0.5."""
    return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5


def rescale_set(gt: dict, img_dir: str, out_dir: str, factor: float, every: int = 1) -> dict:
    """The scaled GT (every ``every``-th image by file name); images written to
    ``out_dir/images``."""
    images = sorted(gt['images'], key=lambda img: img['file_name'])[::every]
    check_images(gt, [img['id'] for img in images], img_dir)
    root = osp.realpath(osp.join(out_dir, 'images'))
    if root == osp.realpath(img_dir):
        raise InputError(f'{out_dir}: its images/ folder is the input image folder')
    for img in images:
        if osp.commonpath([root, osp.realpath(osp.join(root, img['file_name']))]) != root:
            raise InputError(f'{img["file_name"]}: image file name leads outside {root}')
    sizes, out_images = {}, []
    for img in images:
        w, h = round(img['width'] * factor), round(img['height'] * factor)
        sizes[img['id']] = (img['height'], img['width'], w, h)
        pixels = read_image(osp.join(img_dir, img['file_name']))
        out = osp.join(out_dir, 'images', img['file_name'])
        os.makedirs(osp.dirname(out), exist_ok=True)
        interp = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
        if not cv2.imwrite(out, cv2.resize(pixels, (w, h), interpolation=interp)):
            raise OSError(f'{out}: cannot write the image')
        out_images.append(dict(img, width=w, height=h))
    anns = []
    for ann in gt['annotations']:
        if ann['image_id'] not in sizes:
            continue
        h0, w0, w, h = sizes[ann['image_id']]
        mask = rescale_mask(decode(ann['segmentation'], h0, w0), (w, h))
        rle = encode(mask)
        anns.append(dict(ann, segmentation=rle, area=int(mask.sum()),
                         bbox=mask_utils.toBbox(rle).tolist()))
    return dict(gt, images=out_images, annotations=anns)


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('img_dir')
    parser.add_argument('out_dir')
    parser.add_argument('--factor', type=float_arg(0.01), default=2.0, help='scale of the copy')
    parser.add_argument('--every', type=int_arg(1), default=1, help='keep every N-th image')
    args = parser.parse_args(argv)
    check_output(args.out_dir, folder=True)
    gt_out = osp.join(args.out_dir, 'gt.json')
    check_output(gt_out, [args.gt_json])
    scaled = rescale_set(load_gt(args.gt_json), args.img_dir, args.out_dir, args.factor,
                         args.every)
    dump_json(scaled, gt_out)
    print(f'{len(scaled["images"])} images, {len(scaled["annotations"])} instances '
          f'x{args.factor:g} -> {args.out_dir}')


if __name__ == '__main__':
    main()
