"""Refine the patches of a patch dataset: ``python tools/test.py CONFIG CKPT --out X.pkl``.

Writes the foreground probability (float32, patch resolution) of every patch of
``data.test``, in dataset order: the input of ``tools/merge_patches.py``. ``--eval mIoU``
scores them against the ground-truth patches. Distributed: ``tools/dist_test.sh``.
"""
import argparse

import bpr  # noqa: F401  (imported first: it silences mmcv's import-time notices)
from mmcv import DictAction

from bpr.apis.dist import LAUNCHERS
from bpr.apis.inference import device_arg
from bpr.apis.test import run_test
from bpr.compat import ShowSilenced
from bpr.core.io import cli, int_arg


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='test config file')
    parser.add_argument('checkpoint', help="checkpoint file ('default': the project's model, "
                        "'none': random weights)")
    parser.add_argument('--out', help='output pickle of per-patch probabilities')
    parser.add_argument('--eval', nargs='+', help='metrics, e.g. mIoU mDice')
    parser.add_argument('--batch-size', type=int_arg(1), help='patches per forward pass')
    parser.add_argument('--device', type=device_arg,
                        help='cuda, cuda:1, cpu (default: cuda if available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--verbose', action=ShowSilenced)
    args = parser.parse_args(argv)
    if not args.out and not args.eval:
        parser.error('give --out and/or --eval')
    return args


@cli
def main(argv=None):
    args = parse_args(argv)
    _, metrics = run_test(args.config, args.checkpoint, args.out, args.eval,
                          args.cfg_options, args.launcher, args.device, args.batch_size)
    if metrics:
        print(metrics)


if __name__ == '__main__':
    main()
