"""Patch selection with the original's tie-break (``nms``) against the stable one
(``nms_stable``): patches per image and the paper's time breakdown, on real images.

    python tools/benchmarks/bench_ties.py GT_JSON COARSE_JSON IMG_DIR [--out report.md]

Both run on the same images with the same model (default: the project's), alternating run
by run; every time is the median (min-max) of ``--repeat`` runs.
"""
import argparse
import os.path as osp

import numpy as np
import torch

from bpr.apis import init_refiner
from bpr.apis.inference import add_test_options, for_model, patch_config
from bpr.core import extract_image
from bench_speed import flip_note, load_data, median_spread, stage_times, write_report

SAMPLINGS = ('nms', 'nms_stable')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('coarse_json')
    parser.add_argument('img_dir')
    parser.add_argument('--config', default='configs/bpr/hrnet18s_128.py')
    parser.add_argument('--checkpoint', help="default: the project's model")
    add_test_options(parser)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    data = load_data(args.gt_json, args.coarse_json, args.img_dir)
    model = init_refiner(args.config, args.checkpoint, flip=args.flip)
    cfgs = {s: for_model(patch_config(args)._replace(sampling=s), model) for s in SAMPLINGS}
    patches = {s: [sum(inst.num for inst in extract_image(img, masks, cfg)[0])
                   for img, masks in data] for s, cfg in cfgs.items()}
    times = {s: {'extraction': [], 'network': [], 'reassembly': []} for s in SAMPLINGS}
    for _ in range(args.repeat):
        for s, cfg in cfgs.items():
            for stage, values in stage_times(model, data, cfg, 1).items():
                times[s][stage] += values
    for s in SAMPLINGS:
        times[s]['total'] = [sum(v) for v in zip(*times[s].values())]
    device = str(next(model.parameters()).device)
    lines = [f'{osp.basename(args.coarse_json)}: {len(data)} images, '
             f'{sum(len(masks) for _, masks in data)} instances, '
             f'NMS IoU {cfgs["nms"].iou_thresh}, {flip_note(model)}, {device} '
             f'({torch.get_num_threads()} threads); '
             f'ms per image, median (min-max) of {args.repeat} runs.', '',
             '| tie-break | patches | per image | extraction | network | reassembly | total |',
             '|---|---:|---:|---:|---:|---:|---:|']
    for s in SAMPLINGS:
        t = times[s]
        lines.append(f'| {s} | {sum(patches[s])} | {np.mean(patches[s]):.1f} | ' + ' | '.join(
            median_spread(t[k], 1e3, '.1f')
            for k in ('extraction', 'network', 'reassembly', 'total')) + ' |')
    ratio = sum(patches['nms_stable']) / max(sum(patches['nms']), 1)
    lines.append(f'\nnms_stable selects {100 * (ratio - 1):+.1f}% patches.')
    write_report(lines, args.out)


if __name__ == '__main__':
    main()
