"""Train the refinement network: ``python tools/train.py CONFIG [--work-dir DIR] ...``.

Distributed: ``bash tools/dist_train.sh CONFIG NUM_PROCESSES`` (GPUs, or CPU processes).
"""
import argparse
import math

import bpr  # noqa: F401  (imported first: it silences mmcv's import-time notices)
from mmcv import DictAction

from bpr.apis.dist import LAUNCHERS
from bpr.apis.inference import device_arg
from bpr.apis.train import run_training
from bpr.compat import ShowSilenced
from bpr.core.io import arg_type, cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='train config file')
    parser.add_argument('--work-dir', help='where to save logs and checkpoints')
    parser.add_argument('--load-from', help='checkpoint to start from')
    parser.add_argument('--resume-from', help='checkpoint to resume from')
    parser.add_argument('--auto-resume', action='store_true',
                        help='resume from the latest checkpoint in the work dir')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the config's learning rate to the total batch "
                             '(GPUs x samples per GPU) over auto_scale_lr.base_batch_size')
    parser.add_argument('--time-budget', type=arg_type(float, lambda m: 0 < m < math.inf,
                                                     'a positive number of minutes'),
                        metavar='MINUTES',
                        help='end training within this many minutes: the run is shortened to '
                             'the iterations that fit, with its whole learning-rate schedule')
    parser.add_argument('--seed', type=int, help='random seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic options for the CUDNN backend')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. data.samples_per_gpu=4')
    parser.add_argument('--device', type=device_arg,
                        help='cpu, cuda, cuda:1 (default: cuda if available; with a launcher: '
                        'cpu or cuda, each process on the GPU of its local rank)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--verbose', action=ShowSilenced)
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    run_training(args.config, args.work_dir, args.resume_from, args.load_from,
                 args.auto_resume, not args.no_validate, args.seed, args.deterministic,
                 args.cfg_options, args.launcher, args.auto_scale_lr, args.device,
                 args.time_budget)


if __name__ == '__main__':
    main()
