"""Network time per patch against the number of patches per forward pass (``run_patches``).

    python tools/benchmarks/bench_batch.py [--batch 256 64 32 16 8] [--device cpu]

``--patches`` random patches of the model's patch size (``--patch-size``, else the model's
own), run at each batch size in turn, the sizes alternating within each of ``--repeat`` runs
after one warm-up; ms per patch, median (min-max), and the speed-up against the first size;
on a GPU also the memory a pass takes (peak allocated beyond the model's, in the warm-up).
"""
import argparse
import time

import numpy as np
import torch

from bpr.apis.inference import run_patches
from bench_pipeline import add_model_options, model_and_config
from bench_speed import flip_note, median_spread, write_report


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, nargs='+', default=[256, 64, 32, 16, 8])
    parser.add_argument('--patches', type=int, default=256)
    add_model_options(parser)
    parser.add_argument('--threads', type=int, help='torch threads (default: as torch sets)')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = model_and_config(args)
    device = next(model.parameters()).device
    rng = np.random.default_rng(0)
    side = cfg.side
    imgs = rng.integers(0, 256, (args.patches, side, side, 3), dtype=np.uint8)
    masks = (rng.random((args.patches, side, side)) > 0.5).astype(np.uint8)

    def timed(batch):
        t = time.perf_counter()
        run_patches(model, imgs, masks, batch)  # ends with a copy to the host: synchronised
        return (time.perf_counter() - t) / args.patches

    cuda = device.type == 'cuda'
    peak = {}
    for batch in args.batch:
        if cuda:
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        timed(batch)
        if cuda:
            peak[batch] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    runs = {batch: [] for batch in args.batch}
    for _ in range(args.repeat):
        for batch in args.batch:
            runs[batch].append(timed(batch))
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else \
        f'CPU ({torch.get_num_threads()} threads)'
    first = runs[args.batch[0]]
    lines = [f'{args.config.split("/")[-1]}, {args.precision}, on {name}, torch '
             f'{torch.__version__}: {args.patches} random {side}-px patches, '
             f'{flip_note(model)}; '
             f'median (min-max) of {args.repeat} runs.', '',
             '| patches per forward | ms / patch | speed-up |' + (' GPU MiB per pass |' if cuda
                                                                 else ''),
             '|---:|---:|---:|' + ('---:|' if cuda else '')]
    for batch, times in runs.items():
        ratio, spread = median_spread([a / b for a, b in zip(first, times)]).split(' ', 1)
        lines.append(f'| {batch} | {median_spread(times, 1e3, ".2f")} | {ratio}× {spread} |'
                     + (f' {peak[batch]:.0f} |' if cuda else ''))
    write_report(lines, args.out)


if __name__ == '__main__':
    main()
