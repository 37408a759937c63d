"""How much pasting beside the network slows the network down: pasting in a thread of the
same process, which takes turns with the network on the GIL, against a process of its own
(what ``refine_results`` does when it has loader workers).

    python tools/benchmarks/bench_paste.py [--device cuda] [--network-ms 19]

One generated 2048x1024 scene (``bench_pipeline.make_scenes``), its patches extracted once.
The network: on a GPU the model itself (``run_groups`` on the scene's patches, synchronised);
on the CPU, or with ``--network-ms``, small torch calls that take MS alone, each letting go of
the GIL and taking it back as a network launching its kernels one by one does (the real
network would take every core of a CPU). Median (min-max) of ``--repeat`` network runs:
alone, while a thread pastes the scene again and again, and while a process does.
"""
import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import torch

import bpr.apis.coco as coco_api
from bpr.core import decode, extract_image
from bench_pipeline import add_model_options, make_scenes, model_and_config
from bench_speed import identity_probs, median_spread, write_report


def launches(seconds: float):
    """A function of about ``seconds`` alone made of small torch calls, each of which lets go
    of the GIL and takes it back."""
    x = torch.zeros(16)

    def run(n):
        for _ in range(n):
            x.add_(1)
    n, best = 2000, float('inf')
    for _ in range(5):
        t = time.perf_counter()
        run(n)
        best = min(best, time.perf_counter() - t)
    calls = max(1, round(seconds / best * n))
    return lambda: run(calls)


def pasting_beside(pool, job):
    """Keep ``pool`` pasting ``job`` until the returned function is called."""
    stop = threading.Event()

    def again(_=None):
        if not stop.is_set():
            try:
                pool.submit(*job).add_done_callback(again)
            except RuntimeError:  # shut down after the check
                pass
    again()
    again()  # two queued: the paster never waits for the next job
    return stop.set


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--instances', type=int, default=20)
    add_model_options(parser)
    parser.add_argument('--network-ms', type=float,
                        help='small torch calls taking this long alone instead of the network '
                        '(the default on the CPU: 19)')
    parser.add_argument('--repeat', type=int, default=15)
    parser.add_argument('--out', help='append a markdown report to this file')
    args = parser.parse_args(argv)
    model, cfg = model_and_config(args)
    device = next(model.parameters()).device
    with tempfile.TemporaryDirectory() as root:
        gt, coarse = make_scenes(root, 1, args.instances)
        image = cv2.imread(f"{root}/{gt['images'][0]['file_name']}")
    h, w = image.shape[:2]
    segs = [r['segmentation'] for r in coarse]
    instances, groups = extract_image(image, [decode(s, h, w) for s in segs], cfg)
    if args.network_ms is None and device.type == 'cuda':
        def network():
            return coco_api.run_groups(model, groups)
        what = f'{torch.cuda.get_device_name(device)}, {args.precision}'
    else:
        network = launches((args.network_ms or 19) / 1e3)
        what = f'small torch calls taking {args.network_ms or 19:g} ms alone, on the CPU'
    job = (coco_api.paste_image, segs, h, w, instances, identity_probs(groups), cfg.padding,
           cfg.min_part)
    paste = []
    for _ in range(3):
        t = time.perf_counter()
        job[0](*job[1:])
        paste.append(time.perf_counter() - t)
    times = {}
    for name, pool in (('nothing', None), ('a thread', ThreadPoolExecutor(1)),
                       ('a process', coco_api.paster(1))):
        stop = pasting_beside(pool, job) if pool else None
        network()  # warm-up, and the paster started
        runs = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            network()
            runs.append(time.perf_counter() - t)
        if pool:
            stop()
            pool.shutdown()
        times[name] = runs
    alone = statistics.median(times['nothing'])
    lines = [f'The network ({what}; {len(coarse)} instances, '
             f'{sum(i.num for i in instances)} patches of a 2048x1024 scene, NMS IoU '
             f'{cfg.iou_thresh}, {cfg.patch_size}-px boxes) while the scene is pasted beside it '
             f'again and again ({median_spread(paste, 1e3, ".1f")} ms a time alone); median '
             f'(min-max) of {args.repeat} runs, torch {torch.__version__}.', '',
             '| pasting beside it | network ms | × alone |', '|---|---:|---:|']
    for name, runs in times.items():
        ratio = statistics.median(runs) / alone
        lines.append(f'| {name} | {median_spread(runs, 1e3, ".1f")} | {ratio:.2f} |')
    write_report(lines, args.out)


if __name__ == '__main__':
    main()
