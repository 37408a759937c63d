"""Two refiners' patch probabilities averaged: what a second model adds to the first.

    python tools/benchmarks/ensemble.py GT_JSON COARSE_JSON IMG_DIR OUT_PREFIX \
        --second CKPT [--first CKPT] [--weights 0 0.3 0.5] [--no-flip]

For each weight w, writes OUT_PREFIX_w{w}.json: the coarse results refined with the
foreground probability of every patch taken as ``(1 - w) * first + w * second`` (the mean of
their test-time views each), before the patches are pasted; every other setting is the first
model's own (its checkpoint's meta). Both networks share the config
(``configs/bpr/hrnet18s_128.py`` unless ``--config``).
"""
import argparse
import os.path as osp

import bpr  # noqa: F401  (imported first: it silences mmcv's import-time notices)
import torch

from bpr.apis import init_refiner
from bpr.apis.coco import refine_coco_file
from bpr.apis.inference import DEFAULT_CONFIG, device_arg, patch_views
from bpr.core import PatchConfig
from bpr.core.io import arg_type, cli
from bpr.core.patches import PATCH_SETTINGS


class Blend(torch.nn.Module):
    """The weighted mean of two refiners' ``inference`` (softmax probabilities), with the
    first one's config and test settings: a drop-in model for :func:`run_patches`."""

    def __init__(self, first: torch.nn.Module, second: torch.nn.Module, weight: float):
        super().__init__()
        self.first, self.second, self.weight = first, second, weight
        self.cfg = first.cfg
        for key in PATCH_SETTINGS:
            setattr(self, key, getattr(first, key))

    def inference(self, img, img_meta, rescale, **kwargs):
        prob = self.first.inference(img, img_meta, rescale, **kwargs)
        if self.weight == 0:
            return prob
        return (1 - self.weight) * prob + self.weight * self.second.inference(
            img, img_meta, rescale, **kwargs)


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('coarse_json')
    parser.add_argument('img_dir')
    parser.add_argument('out_prefix')
    parser.add_argument('--second', required=True, help='checkpoint of the second model')
    parser.add_argument('--first', default='default',
                        help="checkpoint of the first model (default: the project's)")
    parser.add_argument('--weights', nargs='+', default=[0.3, 0.5],
                        type=arg_type(float, lambda w: 0 <= w <= 1, 'weights each in [0, 1]'),
                        help="the second model's share, each in [0, 1]")
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--flip', action=argparse.BooleanOptionalAction,
                        help="flip test-time augmentation (default: the first model's own)")
    parser.add_argument('--device', type=device_arg,
                        help='cuda, cuda:1, cpu (default: cuda if available)')
    args = parser.parse_args(argv)
    first = init_refiner(args.config, args.first, args.device, flip=args.flip)
    # the second model sees the first one's views
    flip = len(patch_views(first.cfg).flips) > 1
    second = init_refiner(args.config, args.second, args.device, flip=flip)
    for weight in args.weights:
        out = f'{args.out_prefix}_w{weight:g}.json'
        refine_coco_file(Blend(first, second, weight), args.coarse_json, out, args.gt_json,
                         args.img_dir, PatchConfig())
        print(f'second model {weight:g}: {osp.basename(out)}')


if __name__ == '__main__':
    main()
