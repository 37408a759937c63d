"""The ``min_size`` sweep without re-running the network: refined results at ``min_size=0``
and their coarse input give the results at any ``min_size`` (instances are refined one by one).

    python tools/benchmarks/compose_min_size.py COARSE_JSON REFINED_JSON OUT_PREFIX 32 64 96

writes OUT_PREFIX{size}.json: the coarse result where the instance's box (the coarse mask's,
as :func:`bpr.core.extract_instance` sees it) is smaller than ``size`` on its longer side,
else the refined one.
"""
import argparse
import json

import pycocotools.mask as mask_utils


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coarse_json')
    parser.add_argument('refined_json')
    parser.add_argument('out_prefix')
    parser.add_argument('sizes', type=int, nargs='+')
    args = parser.parse_args(argv)
    coarse, refined = json.load(open(args.coarse_json)), json.load(open(args.refined_json))
    side = [max(mask_utils.toBbox(c['segmentation'])[2:]) for c in coarse]
    for size in args.sizes:
        with open(f'{args.out_prefix}{size}.json', 'w') as f:
            json.dump([c if s < size else r for c, r, s in zip(coarse, refined, side)], f)
        print(f'min size {size}: {sum(s < size for s in side)} of {len(side)} instances '
              f'keep their coarse mask')


if __name__ == '__main__':
    main()
