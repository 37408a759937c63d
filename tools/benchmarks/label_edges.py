"""Where the image edge lies relative to a dataset's annotated outlines.

    python tools/benchmarks/label_edges.py GT_JSON IMG_DIR [GT_JSON IMG_DIR ...]

For every non-crowd instance of at least ``--min-area`` pixels: the mean gradient magnitude
(Sobel, grey levels) on the one-pixel bands just inside and just outside its mask, and on the
next band on either side. Inside/outside above 1: the strongest edge lies inside the mask, the
labels reach past the object's edge; below 1: the labels stop short of it. A refiner learns the
convention of its training labels, so sets of different conventions pull it apart.
"""
import argparse
import os.path as osp

import cv2
import numpy as np

from bpr.core.io import check_images, cli, load_gt, read_image
from bpr.core.masks import decode

BANDS = ('inside 2', 'inside 1', 'outside 1', 'outside 2')


def gradient_magnitude(grey: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of a grey image (float32)."""
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def band_gradients(mag: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of ``mag`` on the bands ``BANDS`` of one binary mask (uint8)."""
    kernel = np.ones((3, 3), np.uint8)
    e1, d1 = cv2.erode(mask, kernel), cv2.dilate(mask, kernel)
    e2, d2 = cv2.erode(e1, kernel), cv2.dilate(d1, kernel)
    return np.array([mag[band].mean() for band in (e1 > e2, mask > e1, d1 > mask, d2 > d1)])


def dataset_edges(gt_json: str, img_dir: str, min_area: int) -> np.ndarray:
    """Per-instance band gradients (N, 4) of a COCO ground truth."""
    gt = load_gt(gt_json)
    check_images(gt, [i['id'] for i in gt['images']], img_dir)
    by_image = {}
    for ann in gt['annotations']:
        if not ann.get('iscrowd') and ann.get('area', min_area) >= min_area:
            by_image.setdefault(ann['image_id'], []).append(ann)
    rows = []
    for img in gt['images']:
        anns = by_image.get(img['id'])
        if not anns:
            continue
        grey = read_image(osp.join(img_dir, img['file_name']), 'grayscale')
        mag = gradient_magnitude(grey.astype(np.float32))
        for ann in anns:
            mask = decode(ann['segmentation'], img['height'], img['width']).astype(np.uint8)
            if mask.sum() >= min_area:
                rows.append(band_gradients(mag, mask))
    return np.array(rows).reshape(-1, len(BANDS))


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('sets', nargs='+', metavar='GT_JSON IMG_DIR')
    parser.add_argument('--min-area', type=int, default=4000,
                        help='instances smaller than this (px) are left out')
    args = parser.parse_args(argv)
    if len(args.sets) % 2:
        parser.error('give GT_JSON IMG_DIR pairs')
    print('| ground truth | instances | ' + ' | '.join(BANDS) + ' | inside 1 / outside 1 |')
    print('|---|---:|' + '---:|' * (len(BANDS) + 1))
    for gt_json, img_dir in zip(args.sets[::2], args.sets[1::2]):
        g = dataset_edges(gt_json, img_dir, args.min_area)
        mean = g.mean(0) if len(g) else np.full(len(BANDS), np.nan)
        print(f'| {gt_json} | {len(g)} | ' + ' | '.join(f'{v:.1f}' for v in mean)
              + f' | {mean[1] / mean[2]:.3f} |')


if __name__ == '__main__':
    main()
