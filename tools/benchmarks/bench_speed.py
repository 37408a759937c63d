"""Speed of patch extraction + reassembly and of end-to-end refinement, on real images.

    python tools/benchmarks/bench_speed.py GT_JSON COARSE_JSON IMG_DIR [--out docs/speed.md]

1. Extraction + reassembly per instance: bpr's in-memory path (ROI score map, NMS, strided
   crops, bincount paste) against a straightforward per-instance implementation that works on
   the full image, crops and pastes patch by patch, and writes every patch to PNG and reads it
   back (the original release's round trip). The network is the identity (coarse patches in,
   coarse patches out) so that only this part is timed, and both must give the same masks.
2. End-to-end refinement per image on this machine's device, for each given config, with the
   network as built, as ``init_refiner`` prepares it for inference (BatchNorm folded into
   the convolutions, channels-last memory on CPU), and the latter in bf16 (CPU) or fp16 (CUDA).
3. The paper's breakdown of that time per image: extraction, network, reassembly (fused
   network, fp32).
Every figure is the median of ``--repeat`` runs over the whole image set (per instance or per
image within a run); the spread of the runs is printed next to it.
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

from bpr.apis import init_refiner, refine_masks, run_groups
from bpr.apis.inference import patch_views
from bpr.core import PatchConfig, decode, extract_image, reassemble_image
from bpr.core.io import group_by_image, load_gt, load_results
from bpr.core.patches import boundary_score, move_inside, nms_boxes


def baseline_instance(image, mask, cfg, tmp):
    """Per-instance reference: full-size arrays, Python loops over boxes, PNG round trip."""
    h, w = mask.shape
    score = boundary_score(mask)
    ys, xs = np.nonzero(score)
    half = cfg.patch_size // 2
    boxes = np.array([[x - half, y - half, x + half, y + half] for y, x in zip(ys, xs)],
                     np.int64).reshape(-1, 4)
    boxes = move_inside(boxes[nms_boxes(boxes, score[ys, xs], cfg.iou_thresh)], h, w)
    p = cfg.padding
    pad_img = np.pad(image, ((cfg.side, cfg.side), (cfg.side, cfg.side), (0, 0)))
    pad_mask = np.pad(mask.astype(np.uint8) * 255, cfg.side)
    probs = []
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        sl = (slice(y1 - p + cfg.side, y2 + p + cfg.side), slice(x1 - p + cfg.side,
                                                                 x2 + p + cfg.side))
        cv2.imwrite(osp.join(tmp, f'img_{k}.png'), pad_img[sl])
        cv2.imwrite(osp.join(tmp, f'mask_{k}.png'), pad_mask[sl])
    for k in range(len(boxes)):
        cv2.imread(osp.join(tmp, f'img_{k}.png'))
        probs.append(cv2.imread(osp.join(tmp, f'mask_{k}.png'), 0) / 255.0)
    total = np.zeros((h + 2 * cfg.side, w + 2 * cfg.side))
    count = np.zeros_like(total)
    for (x1, y1, x2, y2), prob in zip(boxes, probs):
        sl = (slice(y1 + cfg.side, y2 + cfg.side), slice(x1 + cfg.side, x2 + cfg.side))
        total[sl] += prob[p:p + cfg.patch_size, p:p + cfg.patch_size]
        count[sl] += 1
    total, count = total[cfg.side:-cfg.side, cfg.side:-cfg.side], \
        count[cfg.side:-cfg.side, cfg.side:-cfg.side]
    out = mask.copy()
    covered = count > 0
    out[covered] = total[covered] / count[covered] > 0.5
    return out


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def time_alternating(fns: dict, repeat: int) -> dict:
    """Seconds of ``repeat`` calls of each function, after one warm-up call each (allocator,
    oneDNN kernels); the functions alternate within a run so that all see the same machine
    state."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(timed(fn)[0])
    return times


def identity_probs(groups: dict) -> dict:
    """The coarse-mask patches of :func:`extract_image`'s groups as probabilities: what a
    network that changes nothing gives, to time the CPU stages alone."""
    return {side: group.mask.astype(np.float32) for side, group in groups.items()}


def stage_times(model, data, cfg: PatchConfig, repeat: int, network=run_groups) -> dict:
    """Seconds per image of extraction, network (``network(model, groups)``) and reassembly
    (the paper's breakdown), one list entry per run, after one warm-up run."""
    times = {'extraction': [], 'network': [], 'reassembly': []}
    for run in range(repeat + 1):
        total = dict.fromkeys(times, 0.0)
        for img, masks in data:
            t, (inst, groups) = timed(lambda: extract_image(img, masks, cfg))
            total['extraction'] += t
            t, probs = timed(lambda: network(model, groups))
            total['network'] += t
            total['reassembly'] += timed(
                lambda: reassemble_image(masks, inst, probs, cfg.padding))[0]
        if run:
            for name, t in total.items():
                times[name].append(t / len(data))
    return times


def load_data(gt_json: str, coarse_json: str, img_dir: str, max_images: int = None) -> list:
    """``[(BGR image, [coarse masks])]`` of the first ``max_images`` images with results."""
    gt = load_gt(gt_json)
    results = load_results(coarse_json, gt, gt_json)
    images = {i['id']: i for i in gt['images']}
    data = []
    for image_id, idx in sorted(group_by_image(results).items())[:max_images]:
        info = images[image_id]
        img = cv2.imread(osp.join(img_dir, info['file_name']))
        data.append((img, [decode(results[i]['segmentation'], info['height'], info['width'])
                           for i in idx]))
    return data


def write_report(lines: list, out: str = None) -> None:
    """Print a markdown report and append it to ``out`` if given."""
    report = '\n'.join(lines) + '\n'
    print(report)
    if out:
        with open(out, 'a') as f:
            f.write(report)


def flip_note(model) -> str:
    """'flip TTA' or 'no flip': how the model's test pipeline sees the patches."""
    return 'flip TTA' if any(d for d, _ in patch_views(model.cfg).flips) else 'no flip'


def median_spread(values, scale=1.0, fmt='.2f'):
    """'median (min-max)' of several runs."""
    v = [x * scale for x in values]
    return f'{statistics.median(v):{fmt}} ({min(v):{fmt}}-{max(v):{fmt}})'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('coarse_json')
    parser.add_argument('img_dir')
    parser.add_argument('--configs', nargs='*', default=['configs/bpr/hrnet18s_128.py',
                                                         'configs/bpr/hrnet48_256.py'])
    parser.add_argument('--max-images', type=int, default=20)
    parser.add_argument('--network-images', type=int, default=5)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--iou-thresh', type=float, default=0.25)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    data = load_data(args.gt_json, args.coarse_json, args.img_dir, args.max_images)
    cfg = PatchConfig(64, 0, args.iou_thresh)

    n_inst = sum(len(masks) for _, masks in data)
    fast, slow, n_patch = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            t_fast = t_slow = 0.0
            for img, masks in data:
                def ours():
                    inst, groups = extract_image(img, masks, cfg)
                    return reassemble_image(masks, inst, identity_probs(groups),
                                            cfg.padding), inst
                t, (out_fast, inst) = timed(ours)
                t_fast += t
                t, out_slow = timed(lambda: [baseline_instance(img, m, cfg, tmp) for m in masks])
                t_slow += t
                assert all(np.array_equal(a, b) for a, b in zip(out_fast, out_slow))
                n_patch += sum(i.num for i in inst)
            fast.append(t_fast / n_inst)
            slow.append(t_slow / n_inst)
    ratios = [b / a for a, b in zip(fast, slow)]
    lines = [
        f'Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
        f'torch {torch.__version__}, {"CUDA" if torch.cuda.is_available() else "CPU"}; '
        f'{len(data)} images, {n_inst} instances, {n_patch // args.repeat} patches '
        f'(patch 64, NMS IoU {args.iou_thresh}); median (min-max) of {args.repeat} runs.', '',
        '| extraction + reassembly | ms / instance |', '|---|---:|',
        f'| per-instance, full image, PNG round trip | {median_spread(slow, 1e3)} |',
        f'| bpr (ROI, vectorised, in memory) | {median_spread(fast, 1e3)} |',
        f'| speed-up | {median_spread(ratios, fmt=".1f")}x |', '']
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    rows = ['| config | network | device | s / image | patches / s | speed-up |',
            '|---|---|---|---:|---:|---:|']
    net_data = data[:args.network_images]
    net_patches = sum(i.num for img, masks in net_data
                      for i in extract_image(img, masks, cfg)[0])
    stages = ['| config | extraction | network | reassembly | total (ms / image) |',
              '|---|---:|---:|---:|---:|']
    half = 'bf16' if device == 'cpu' else 'fp16'
    variants = {'as built': dict(fuse=False), 'fused BN (+ NHWC on CPU)': dict(),
                f'fused, {half}': dict(precision=half)}
    for config in args.configs:
        models = {name: init_refiner(config, 'none', device, **kwargs)
                  for name, kwargs in variants.items()}
        totals = time_alternating(
            {name: lambda m=model: [refine_masks(m, img, masks, cfg, 64) for img, masks in net_data]
             for name, model in models.items()}, args.repeat)
        plain = totals['as built']
        for name, runs in totals.items():
            speedup = '' if runs is plain else \
                median_spread([a / b for a, b in zip(plain, runs)], fmt='.2f') + 'x'
            rows.append(f'| {osp.basename(config)} | {name} | {device} '
                        f'({torch.get_num_threads()} threads) | '
                        f'{median_spread([t / len(net_data) for t in runs])} | '
                        f'{median_spread([net_patches / t for t in runs], fmt=".0f")} | '
                        f'{speedup} |')
        parts = stage_times(models['fused BN (+ NHWC on CPU)'], net_data, cfg, args.repeat)
        runs = [sum(p) for p in zip(*parts.values())]
        stages.append(f'| {osp.basename(config)} | ' + ' | '.join(
            median_spread(t, 1e3, '.1f') for t in list(parts.values()) + [runs]) + ' |')
    write_report(lines + rows + ['', 'Per stage, fused fp32 network:', ''] + stages, args.out)


if __name__ == '__main__':
    sys.exit(main())
