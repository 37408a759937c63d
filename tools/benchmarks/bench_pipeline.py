"""Refinement time per image on Cityscapes-size scenes, and how busy the network is: images
prepared ahead by loader workers (``refine_results(workers=N)``) against none.

    python tools/benchmarks/bench_pipeline.py [--images 20] [--instances 20] [--workers 0 4]

Generated scenes (2048x1024, textured background, ``--instances`` filled shapes, Mask R-CNN-like
28x28 coarse masks) written as PNG, so that reading the images is part of the work. For each
worker count: ms per image end to end (``refine_results``, loader start-up included) and the
share of that time the network (``run_groups``, synchronised) was running; the same in flow,
between the first and the last image's network start (what a long run gives), and the fixed
costs that end to end adds: the start-up (from the call to the first image's network: the
loaders and pasters starting, the first image read and extracted) and the wind-down (from the
last image's network to the return: its pasting, the processes stopping); then the paper's
breakdown (extraction, network, reassembly) measured stage by stage. Medians (min-max)
of ``--repeat`` runs, the settings alternating run by run.

``--network-ms MS`` replaces the network by a wait of MS per image that returns the coarse
patches: the CPU side alone, as a GPU that takes MS per image sees it (on any machine).
``--paste thread process`` pastes in a thread, or in processes of its own, whatever the
workers (``auto``: as ``refine_results`` does, in processes when it has loader workers, else
in a thread).
"""
import argparse
import os.path as osp
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch

import bpr.apis.coco as coco_api
from bpr.apis import init_refiner
from bpr.apis.inference import add_test_options, for_model, patch_config
from bpr.core import decode, encode
from bpr.core.coarse import make_coarse
from bench_speed import flip_note, identity_probs, median_spread, stage_times, write_report


def make_scenes(root: str, images: int, instances: int, size=(1024, 2048), seed: int = 0):
    """``images`` PNG scenes under ``root``; returns the GT and the 28x28 coarse results."""
    rng = np.random.default_rng(seed)
    h, w = size
    gt = dict(images=[], annotations=[], categories=[dict(id=1, name='thing')])
    for i in range(images):
        img = rng.integers(0, 80, (h, w, 3), dtype=np.uint8)
        for k in range(instances):
            mask = np.zeros((h, w), np.uint8)
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(15, 200)), int(rng.integers(15, 160)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            img[mask > 0] = rng.integers(90, 255, 3)
            gt['annotations'].append(dict(id=len(gt['annotations']) + 1, image_id=i + 1,
                                          category_id=1, iscrowd=0, segmentation=encode(mask),
                                          area=int(mask.sum())))
        name = f'scene_{i:03d}.png'
        cv2.imwrite(osp.join(root, name), img)
        gt['images'].append(dict(id=i + 1, file_name=name, height=h, width=w))
    return gt, make_coarse(gt, grid=28, seed=seed)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model, its test settings and the device."""
    parser.add_argument('--config', default='configs/bpr/hrnet18s_128.py')
    parser.add_argument('--checkpoint', help="default: the project's model")
    parser.add_argument('--precision', default='fp32')
    add_test_options(parser)
    parser.add_argument('--device')


def model_and_config(args: argparse.Namespace):
    """The model of :func:`add_model_options` and its :class:`PatchConfig`."""
    model = init_refiner(args.config, args.checkpoint, args.device, precision=args.precision,
                         flip=args.flip)
    return model, for_model(patch_config(args), model)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=20)
    parser.add_argument('--instances', type=int, default=20)
    parser.add_argument('--size', type=int, nargs=2, default=[1024, 2048], help='H W')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 4])
    add_model_options(parser)
    parser.add_argument('--network-ms', type=float,
                        help='instead of the network, wait this long per image (CPU side alone)')
    parser.add_argument('--paste', nargs='+', choices=['auto', 'thread', 'process'],
                        default=['auto'], help="where to paste: refine_results' own choice "
                        '(processes with loader workers, else a thread), or always a thread, '
                        'or always processes')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    model, cfg = model_and_config(args)
    device = next(model.parameters()).device
    network = {'spans': []}  # (start, seconds) of each network call
    if args.network_ms is None:
        run_groups = coco_api.run_groups
    else:
        def run_groups(model, groups, batch_size=None):
            time.sleep(args.network_ms / 1e3)
            return identity_probs(groups)

    def timed_network(*a, **kw):
        t = time.perf_counter()
        out = run_groups(*a, **kw)  # ends with a copy to the host: synchronised
        network['spans'].append((t, time.perf_counter() - t))
        return out

    own_paster = coco_api.paster
    pasters = {'thread': lambda workers: ThreadPoolExecutor(1),
               'process': lambda workers: own_paster(workers or 1)}
    coco_api.run_groups = timed_network
    with tempfile.TemporaryDirectory() as root:
        gt, coarse = make_scenes(root, args.images, args.instances, tuple(args.size))
        coco_api.refine_results(model, coarse, gt, root, cfg, progress=False, workers=0)
        # 'auto' is one of the two, as refine_results chooses: each run once
        runs = list(dict.fromkeys((w, p if p != 'auto' else 'process' if w else 'thread')
                                  for w in args.workers for p in args.paste))
        wall, busy, flow, flow_busy, start_up, wind_down = ({run: [] for run in runs}
                                                            for _ in range(6))
        for _ in range(args.repeat):
            for w, p in runs:
                network['spans'] = []
                coco_api.paster = pasters[p]
                t = time.perf_counter()
                coco_api.refine_results(model, coarse, gt, root, cfg, progress=False,
                                        workers=w)
                seconds = time.perf_counter() - t
                starts, spans = zip(*network['spans'])
                wall[w, p].append(seconds / args.images)
                busy[w, p].append(sum(spans) / seconds)
                # in flow: from the first network start to the last, the loaders' start-up
                # and the last image's pasting left out
                span = max(starts[-1] - starts[0], 1e-9)
                flow[w, p].append(span / max(len(starts) - 1, 1))
                flow_busy[w, p].append(sum(spans[:-1]) / span)
                start_up[w, p].append(starts[0] - t)
                wind_down[w, p].append(t + seconds - starts[-1] - spans[-1])
        coco_api.paster = own_paster
        coco_api.run_groups = run_groups
        images = {img['id']: img for img in gt['images']}
        data = []
        for img in gt['images']:
            masks = [decode(r['segmentation'], img['height'], img['width'])
                     for r in coarse if r['image_id'] == img['id']]
            data.append((cv2.imread(osp.join(root, images[img['id']]['file_name'])), masks))
        stages = stage_times(model, data, cfg, args.repeat, run_groups)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else \
        f'CPU ({torch.get_num_threads()} threads)'
    lines = [f'{osp.basename(args.config)}, {args.precision}, on {name}, torch '
             f'{torch.__version__}: {args.images} generated {args.size[1]}x{args.size[0]} '
             f'images, {len(coarse)} instances, NMS IoU {cfg.iou_thresh}, {flip_note(model)}'
             + ('' if args.network_ms is None else
                f', the network replaced by a {args.network_ms:g}-ms wait per image')
             + f'; median (min-max) of {args.repeat} runs.', '',
             '| loader workers | pasting | ms / image | network busy | ms / image in flow '
             '| network busy in flow | start-up ms | wind-down ms |',
             '|---:|---|---:|---:|---:|---:|---:|---:|']
    for w, p in runs:
        n = coco_api.paste_processes(w or 1)
        where = p if p == 'thread' else 'a process' if n == 1 else f'{n} processes'
        lines.append(f'| {w} | {where} | {median_spread(wall[w, p], 1e3, ".1f")} | '
                     f'{median_spread(busy[w, p], 100, ".0f")} % | '
                     f'{median_spread(flow[w, p], 1e3, ".1f")} | '
                     f'{median_spread(flow_busy[w, p], 100, ".0f")} % | '
                     f'{median_spread(start_up[w, p], 1e3, ".0f")} | '
                     f'{median_spread(wind_down[w, p], 1e3, ".0f")} |')
    lines += ['', '| extraction | network | reassembly | sum (ms / image, stage by stage) |',
              '|---:|---:|---:|---:|',
              '| ' + ' | '.join(median_spread(stages[k], 1e3, '.1f')
                                for k in ('extraction', 'network', 'reassembly')) +
              f' | {median_spread([sum(v) for v in zip(*stages.values())], 1e3, ".1f")} |']
    write_report(lines, args.out)


if __name__ == '__main__':
    main()
