"""Speed of a training iteration: NCHW (the data loader's layout) vs NHWC memory, or
float32 vs mixed precision (``--amp``).

    python tools/benchmarks/bench_train.py [--configs C...] [--batch 8 32 64] [--threads 1]
        [--device cuda] [--amp bf16|fp16]

One iteration = forward, loss, backward and an SGD step on a batch of random patches at the
config's network input size, as ``train_refiner`` runs it (on CPU, or on ``--device``; on a
GPU each iteration ends synchronised). With ``--amp`` both variants are NHWC and the second
runs its forward under autocast as ``AmpOptimizerHook`` does (with float16, its loss scaled).
The two variants start from the same weights and alternate within each run; every figure is
the median (min-max) of ``--repeat`` runs of ``--iters`` iterations (after one warm-up run
each), with patches per second.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys

import mmcv
import torch
from mmcv.cnn.utils import revert_sync_batchnorm
from mmseg.models import build_segmentor

from bpr.apis.inference import patch_views
from bpr.core.amp import AMP_DTYPES, AmpOptimizerHook
from bench_speed import median_spread, time_alternating, write_report


def make_step(model, batch, amp=None):
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    device = next(model.parameters()).device
    model.amp_dtype = AMP_DTYPES[amp] if amp else None
    scaler = AmpOptimizerHook(amp).loss_scaler if amp else None  # float16's only

    def step():
        losses = model.forward_train(**batch)
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad()
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='*', default=['configs/bpr/hrnet18s_128.py'])
    parser.add_argument('--batch', type=int, nargs='+', default=[8],
                        help='patches per process (several: one row each)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (dist_train.sh gives each of N processes cores/N)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1')
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--amp', choices=['bf16', 'fp16'],
                        help='compare float32 with autocast to this dtype (NHWC both)')
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == 'cuda' else \
        f'CPU, {args.threads} thread(s)'
    rows = [f'{where}, torch {torch.__version__}; median (min-max) of {args.repeat} runs of '
            f'{args.iters} iterations.', '',
            f'| config | batch | {"precision" if args.amp else "memory"} | s / iteration | '
            'patches / s |',
            '|---|---:|---|---:|---:|']
    for config, size in ((c, b) for c in args.configs for b in args.batch):
        cfg = mmcv.Config.fromfile(config)
        cfg.model.pretrained = None
        torch.manual_seed(0)
        model = revert_sync_batchnorm(build_segmentor(cfg.model)).to(device).train()
        w, h = patch_views(cfg).sizes[0]
        gen = torch.Generator().manual_seed(0)
        batch = dict(img=torch.randn(size, 3, h, w, generator=gen).to(device),
                     img_metas=[dict(img_shape=(h, w, 3), ori_shape=(h, w, 3),
                                     pad_shape=(h, w, 3), flip=False)] * size,
                     gt_semantic_seg=torch.randint(0, 2, (size, 1, h, w),
                                                   generator=gen).to(device),
                     coarse_mask=(torch.randint(0, 2, (size, 1, h, w),
                                                generator=gen).float() * 2 - 1).to(device))
        if args.amp:
            nhwc = model.to(memory_format=torch.channels_last)
            steps = {'float32': make_step(copy.deepcopy(nhwc), batch),
                     f'{args.amp} autocast': make_step(copy.deepcopy(nhwc), batch, args.amp)}
        else:
            steps = {'NCHW': make_step(copy.deepcopy(model), batch),
                     'NHWC (channels_last)': make_step(
                         copy.deepcopy(model).to(memory_format=torch.channels_last), batch)}
        times = time_alternating({name: lambda s=step: [s() for _ in range(args.iters)]
                                  for name, step in steps.items()}, args.repeat)
        times = {name: [t / args.iters for t in runs] for name, runs in times.items()}
        name = osp.basename(config)
        for memory, runs in times.items():
            rows.append(f'| {name} | {size} | {memory} | {median_spread(runs, fmt=".3f")} | '
                        f'{size / statistics.median(runs):.1f} |')
        slow, fast = times.values()
        rows.append(f'| {name} | {size} | speed-up | '
                    f'{median_spread([a / b for a, b in zip(slow, fast)])}x | |')
    write_report(rows, args.out)


if __name__ == '__main__':
    sys.exit(main())
