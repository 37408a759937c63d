"""A patch size per instance, in proportion to its size, without a new pipeline run: refined
results at several fixed patch sizes give the results of any such rule (instances are refined
one by one).

    python tools/benchmarks/compose_patch_size.py COARSE_JSON OUT_PREFIX \\
        48=REFINED_48.json 64=REFINED_64.json ... --divisors 5 6 7

writes OUT_PREFIX{k}.json for each divisor k: for every instance, the result of the run whose
patch size is nearest the longer side of its coarse box divided by k (the smaller size on a
tie).
"""
import argparse

import numpy as np
import pycocotools.mask as mask_utils

from bpr.core.io import check_output, cli, dump_json, load_json


def size_arg(text: str):
    size, sep, path = text.partition('=')
    if not sep or not size.isdigit() or not path:
        raise argparse.ArgumentTypeError(f'{text!r}: expected SIZE=RESULTS_JSON')
    return int(size), path


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coarse_json')
    parser.add_argument('out_prefix')
    parser.add_argument('runs', type=size_arg, nargs='+', metavar='SIZE=RESULTS_JSON')
    parser.add_argument('--divisors', type=float, nargs='+', default=[5, 6, 7])
    args = parser.parse_args(argv)
    inputs = [args.coarse_json] + [path for _, path in args.runs]
    outs = [f'{args.out_prefix}{k:g}.json' for k in args.divisors]
    for out in outs:
        check_output(out, inputs)
    coarse = load_json(args.coarse_json, 'coarse results')
    runs = {size: load_json(path, 'refined results') for size, path in args.runs}
    for size, results in runs.items():
        if len(results) != len(coarse):
            parser.error(f'{size}: {len(results)} results for {len(coarse)} coarse instances')
    sizes = np.array(sorted(runs))
    side = np.array([max(mask_utils.toBbox(c['segmentation'])[2:]) for c in coarse])
    for k, out in zip(args.divisors, outs):
        pick = sizes[np.abs(sizes[None, :] - side[:, None] / k).argmin(axis=1)]
        dump_json([runs[p][i] for i, p in enumerate(pick.tolist())], out)
        used = ', '.join(f'{p} px: {n}' for p, n in zip(*np.unique(pick, return_counts=True)))
        print(f'side / {k:g}: {used}')


if __name__ == '__main__':
    main()
