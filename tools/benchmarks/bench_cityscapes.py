"""Speed of the Cityscapes-form conversions around tools/inference.sh, on generated masks.

    python tools/benchmarks/bench_cityscapes.py [--images 8] [--masks 50] [--repeat 3]

A results folder of ``--images`` 2048x1024 images with ``--masks`` instance PNGs each (ellipses
of random size and place) is read into COCO form (``cityscapes_to_coco``) and written back
(``coco_to_cityscapes``), by bpr and by the straightforward way (the whole mask transposed
into Fortran order to encode it; the decoded mask converted whole to a 0/255 image), which
must give the same RLEs and PNGs. One process; medians (min-max) of ``--repeat`` runs, the two
ways alternating within each run. Then, on the same masks, the time per image of bpr's patch
extraction and reassembly (the paper's breakdown; patch 64, NMS IoU 0.55 as for Cityscapes).
"""
import argparse
import filecmp
import os
import os.path as osp
import sys
import tempfile
from functools import partial

import cv2
import numpy as np
import pycocotools.mask as mask_utils

from bpr.core import PatchConfig, cityscapes, decode, extract_image, reassemble_image
from bench_speed import identity_probs, median_spread, time_alternating, write_report


def make_results(root: str, images: int, masks: int, seed: int = 0) -> dict:
    """A Cityscapes-form results folder under ``root`` and its GT JSON content."""
    rng = np.random.default_rng(seed)
    h, w = 1024, 2048
    gt = dict(images=[], annotations=[],
              categories=[dict(id=i + 1, name=n) for i, n in enumerate(cityscapes.CLASSES)])
    for i in range(images):
        stem = f'city_{i:06d}_000019'
        gt['images'].append(dict(id=i, file_name=f'city/{stem}_leftImg8bit.png', height=h,
                                 width=w))
        lines = []
        for k in range(masks):
            mask = np.zeros((h, w), np.uint8)
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(5, 300)), int(rng.integers(5, 300)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
            png = f'{stem}_leftImg8bit_{k}_car.png'
            cv2.imwrite(osp.join(root, png), mask)
            lines.append(f'{png} 26 0.9\n')
        with open(osp.join(root, stem + cityscapes.PRED_SUFFIX), 'w') as f:
            f.writelines(lines)
    return gt


def straightforward_encode(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask > 0, dtype=np.uint8))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def straightforward_png(mask: np.ndarray, value: int = 255) -> np.ndarray:
    return mask.astype(np.uint8) * value


def run_straightforward(fn):
    """``fn()`` with the module's encoding and PNG helpers swapped for the straightforward ones."""
    saved = cityscapes.encode, cityscapes.paste_box
    cityscapes.encode, cityscapes.paste_box = straightforward_encode, straightforward_png
    try:
        return fn()
    finally:
        cityscapes.encode, cityscapes.paste_box = saved


def stage_times(results: list, gt: dict, repeat: int) -> dict:
    """Seconds of patch extraction and of reassembly (identity network; with and without the
    clean-up of specks and pinholes) over all images."""
    cfg = PatchConfig(64, 0, 0.55)
    rng = np.random.default_rng(0)
    images = []
    for img in gt['images']:
        masks = [decode(r['segmentation'], img['height'], img['width'])
                 for r in results if r['image_id'] == img['id']]
        images.append((rng.integers(0, 256, (img['height'], img['width'], 3), np.uint8), masks))
    extracted = [extract_image(image, masks, cfg) for image, masks in images]
    return time_alternating({
        'extraction': lambda: [extract_image(image, masks, cfg) for image, masks in images],
        'reassembly': lambda: [reassemble_image(masks, inst, identity_probs(groups), 0)
                               for (_, masks), (inst, groups) in zip(images, extracted)],
        'reassembly, min_part 10': lambda: [
            reassemble_image(masks, inst, identity_probs(groups), 0, min_part=10)
            for (_, masks), (inst, groups) in zip(images, extracted)]},
        repeat)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--masks', type=int, default=50)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pred = osp.join(tmp, 'pred')
        os.makedirs(pred)
        gt = make_results(pred, args.images, args.masks)
        read = partial(cityscapes.cityscapes_to_coco, pred, gt, 1, False)
        results = read()
        assert run_straightforward(read) == results, 'RLEs differ'
        write = {name: partial(cityscapes.coco_to_cityscapes, results, gt, osp.join(tmp, name),
                               1, False) for name in ('bpr', 'straightforward')}
        write['bpr']()
        run_straightforward(write['straightforward'])
        pngs = sorted(f for f in os.listdir(osp.join(tmp, 'bpr')) if f.endswith('.png'))
        _, diff, errors = filecmp.cmpfiles(osp.join(tmp, 'bpr'), osp.join(tmp, 'straightforward'),
                                           pngs, shallow=False)
        assert not diff and not errors, f'PNGs differ: {diff + errors}'
        times = {
            'read (txt + PNGs -> COCO)': time_alternating(
                {'straightforward': lambda: run_straightforward(read), 'bpr': read}, args.repeat),
            'write (COCO -> txt + PNGs)': time_alternating(
                {'straightforward': lambda: run_straightforward(write['straightforward']),
                 'bpr': write['bpr']}, args.repeat)}
        stages = stage_times(results, gt, args.repeat)
    n = len(results)
    rows = ['| conversion | straightforward (ms / instance) | bpr (ms / instance) | speed-up |',
            '|---|---:|---:|---:|']
    for name, t in times.items():
        ratios = [s / b for s, b in zip(t['straightforward'], t['bpr'])]
        rows.append(f'| {name} | {median_spread(t["straightforward"], 1e3 / n)} | '
                    f'{median_spread(t["bpr"], 1e3 / n)} | {median_spread(ratios)}x |')
    rows += ['', '| bpr on these images | ms / image |', '|---|---:|'] + [
        f'| {name} | {median_spread(t, 1e3 / args.images)} |' for name, t in stages.items()]
    write_report([f'{args.images} images of 2048x1024, {n} instance PNGs, one process; median '
                  f'(min-max) of {args.repeat} runs.', ''] + rows, args.out)


if __name__ == '__main__':
    sys.exit(main())
