"""Refine COCO-form coarse results in memory (the engine of tools/inference_coco.sh).

    python tools/refine_coco.py CONFIG CKPT COARSE_JSON OUT_JSON --img-dir D --gt-json G

Extract -> batched network -> reassemble, image by image; with ``--launcher pytorch`` (under
torchrun) or ``slurm`` (under srun) the images are split across processes (GPUs, or CPU
processes), on one or several machines.
"""
import argparse

import bpr  # noqa: F401  (imported first: it silences mmcv's import-time notices)
from mmcv import DictAction

from bpr.apis import init_refiner
from bpr.apis.coco import refine_coco_file
from bpr.apis.dist import LAUNCHERS, init_dist
from bpr.apis.inference import PRECISIONS, add_test_options, device_arg, patch_config
from bpr.compat import ShowSilenced
from bpr.core.io import cli, int_arg
from bpr.core.patches import SAMPLING_HELP, SAMPLINGS, setting_arg


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint',
                        help="checkpoint ('default': the project's model, 'none': random)")
    parser.add_argument('coarse_json')
    parser.add_argument('out_json')
    parser.add_argument('--img-dir', required=True)
    parser.add_argument('--gt-json', required=True, help='COCO GT: image ids, names, sizes')
    add_test_options(parser)
    parser.add_argument('--padding', type=setting_arg('padding'), default=0)
    parser.add_argument('--sampling', choices=SAMPLINGS, default='nms', help=SAMPLING_HELP)
    parser.add_argument('--batch-size', type=int_arg(1),
                        help='patches per forward (default: 256 on a GPU, 16 on the CPU)')
    parser.add_argument('--workers', type=int_arg(0),
                        help='processes preparing images ahead of the network (default: up to '
                        '4 on a GPU, none on the CPU)')
    parser.add_argument('--device', type=device_arg,
                        help='cuda, cuda:1, cpu (default: cuda if available)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='network arithmetic (bf16: CPUs with native bfloat16; fp16: CUDA)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. data.test.pipeline.2.flip=True')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--verbose', action=ShowSilenced)
    args = parser.parse_args(argv)
    device = init_dist(launcher=args.launcher, device=args.device) \
        if args.launcher != 'none' else args.device
    model = init_refiner(args.config, args.checkpoint or 'default', device, args.cfg_options,
                         precision=args.precision, flip=args.flip)
    refine_coco_file(model, args.coarse_json, args.out_json, args.gt_json, args.img_dir,
                     patch_config(args),
                     args.batch_size, workers=args.workers)


if __name__ == '__main__':
    main()
