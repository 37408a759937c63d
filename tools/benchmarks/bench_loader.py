"""Speed of the training data pipeline: what one loader worker delivers, step by step, and
what a DataLoader of W workers delivers in batches.

    python tools/benchmarks/bench_loader.py DATA_ROOT [--config C] [--patches 2000]
        [--workers 0 2] [--batch 64] [--repeat 3] [--out docs/loader.md]

DATA_ROOT is a patch dataset (the ``patches`` folder of ``tools/prepare_dataset*.sh``). A
fixed random sample of ``--patches`` training patches goes through the config's train
pipeline: once to warm the page cache (its time is reported as the first pass), then
``--repeat`` timed passes, each step timed alone (ms per patch, median (min-max) of the
passes). Then the same patches in batches of ``--batch`` from a DataLoader with each number of
``--workers``, as mmseg builds it for training (collate of DataContainers included): patches
per second after the first batch, median (min-max) of the passes.
"""
import argparse
import statistics
import sys
import time

import mmcv
import numpy as np
import torch

import bpr  # noqa: F401  (registers LoadCoarseMask and RefineDataset)
from mmseg.datasets import build_dataloader, build_dataset
from bench_speed import median_spread, write_report


def pipeline_pass(dataset, indices) -> np.ndarray:
    """Seconds spent in each step of the dataset's pipeline over ``indices``."""
    steps = dataset.pipeline.transforms
    spent = np.zeros(len(steps))
    for i in indices:
        results = dict(img_info=dataset.img_infos[i], ann_info=dataset.get_ann_info(i))
        dataset.pre_pipeline(results)
        for k, step in enumerate(steps):
            start = time.perf_counter()
            results = step(results)
            spent[k] += time.perf_counter() - start
    return spent


def loader_rate(dataset, workers: int, batch: int) -> float:
    """Patches per second of a training DataLoader over ``dataset``, in batches of
    ``batch``, after its first batch (which pays for starting the workers)."""
    loader = build_dataloader(dataset, batch, workers, num_gpus=1, dist=False, shuffle=True,
                              seed=0, drop_last=True, persistent_workers=False)
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    batches = sum(1 for _ in it)
    return batches * batch / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_root')
    parser.add_argument('--config', default='configs/bpr/hrnet18s_128.py')
    parser.add_argument('--patches', type=int, default=2000)
    parser.add_argument('--workers', type=int, nargs='*', default=[0, 2])
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', help='append the report to this markdown file')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as in a loader worker

    cfg = mmcv.Config.fromfile(args.config)
    cfg.data.train.data_root = args.data_root
    dataset = build_dataset(cfg.data.train)
    rng = np.random.RandomState(0)
    sample = rng.choice(len(dataset), min(args.patches, len(dataset)), replace=False)
    if len(sample) < 2 * args.batch:  # the first batch is not timed
        parser.error(f'{len(sample)} patches: the loader needs at least 2 batches of '
                     f'{args.batch}')
    first = pipeline_pass(dataset, sample).sum()
    passes = np.stack([pipeline_pass(dataset, sample) for _ in range(args.repeat)])
    per_patch = passes * 1e3 / len(sample)  # ms

    lines = [f'Training data pipeline of `{args.config}`, {len(sample)} of the {len(dataset)} '
             f'patches of `{args.data_root}`, one process, median (min-max) of {args.repeat} '
             'passes after a first one that warms the page cache:', '',
             '| step | ms / patch |', '|---|---:|']
    for k, step in enumerate(dataset.pipeline.transforms):
        lines.append(f'| {type(step).__name__} | {median_spread(per_patch[:, k], fmt=".3f")} |')
    totals = per_patch.sum(1)
    lines += [f'| **all** | **{median_spread(totals, fmt=".3f")}** |', '',
              f'One worker: {1e3 / statistics.median(totals):,.0f} patches / s (the first '
              f'pass, its files perhaps not yet cached: {len(sample) / first:,.0f}).', '',
              f'| DataLoader workers | patches / s (batches of {args.batch}) |', '|---:|---:|']
    subset = torch.utils.data.Subset(dataset, sample)  # the patches of the cache
    for workers in args.workers:
        rates = [loader_rate(subset, workers, args.batch) for _ in range(args.repeat)]
        lines.append(f'| {workers} | {median_spread(rates, fmt=",.0f")} |')
    write_report(lines, args.out)


if __name__ == '__main__':
    sys.exit(main())
