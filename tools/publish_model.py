"""Strip a training checkpoint for release: weights (optionally float16) and meta only.

    python tools/publish_model.py work_dirs/x/latest.pth [MORE.pth ...] checkpoints/model.pth
        [--fp16] [--min-size PX] [--iou-thresh T] [--patch-size PX] [--min-part PX]
        [--flip | --no-flip] [--base START.pth --alpha A [--recalibrate DATA_ROOT]]

``--min-size``, ``--iou-thresh``, ``--patch-size``, ``--min-part`` and ``--flip`` are the test
settings the model is released with: stored in its meta, they are what inference uses unless
told otherwise.

Several IN_FILEs (runs fine-tuned from the same start) are averaged uniformly first, a model
soup; the meta is the first one's. With ``--base``, the weights released are
``(1 - A) * START + A * IN_FILE``: the fine-tuned model averaged with the one it started from
(WiSE-FT), which keeps what fine-tuning on another domain would forget. ``--recalibrate``
then re-estimates the BatchNorm statistics of those averaged weights on the training patches
(``DATA_ROOT``, as for training).

The training config kept in the meta loses its run's absolute paths (``data_root``,
``work_dir``, ``load_from``, ``resume_from``: their last component stays).

Prints the SHA-256 of the result (first 8 hex digits are the usual file-name suffix).
"""
import argparse
import hashlib
import os

import torch

from bpr.apis import DEFAULT_CONFIG
from bpr.apis.inference import ReleaseSettings, add_test_options, device_arg
from bpr.apis.recalibrate import recalibrated_state
from bpr.core.checkpoint import (average_weights, interpolate_weights, load_file,
                                 portable_config, state_dict_of)
from bpr.core.io import atomic_write, check_output, cli, int_arg

TEST_SETTINGS = ReleaseSettings._fields


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('in_files', nargs='+', metavar='in_file',
                        help='checkpoint to release; several: their weights averaged')
    parser.add_argument('out_file')
    parser.add_argument('--fp16', action='store_true', help='store floating weights as float16')
    add_test_options(parser, release=True)
    parser.add_argument('--base', help='checkpoint the fine-tuning started from')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='weight of IN_FILE against --base (1: IN_FILE alone)')
    parser.add_argument('--recalibrate', metavar='DATA_ROOT',
                        help='re-estimate the BatchNorm statistics on these training patches')
    parser.add_argument('--bn-patches', type=int_arg(1), default=4096,
                        help='patches drawn for --recalibrate')
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='model config (--recalibrate)')
    parser.add_argument('--device', type=device_arg,
                        help='cpu, cuda, ... (--recalibrate; default: automatic)')
    args = parser.parse_args(argv)
    if not 0 <= args.alpha <= 1:
        parser.error(f'--alpha must be in [0, 1], got {args.alpha}')
    check_output(args.out_file, args.in_files + ([args.base] if args.base else []))
    ckpt = load_file(args.in_files[0], map_location='cpu')
    state = state_dict_of(ckpt)
    if len(args.in_files) > 1:
        others = [state_dict_of(load_file(f, map_location='cpu')) for f in args.in_files[1:]]
        state = average_weights([state] + others, args.in_files)
    if args.base:
        base = state_dict_of(load_file(args.base, map_location='cpu'))
        state = interpolate_weights(base, state, args.alpha, args.base)
    if args.recalibrate:
        state, used = recalibrated_state(state, args.recalibrate, args.config,
                                         args.bn_patches, device=args.device)
    if args.fp16:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    # a released checkpoint republished keeps its test settings and how its weights were made
    meta = {k: v for k, v in ckpt.get('meta', {}).items() if k in
            ('CLASSES', 'PALETTE', 'iter', 'epoch', 'mmseg_version', 'config', 'seed', 'time',
             'averaged', 'interpolated', 'bn_recalibrated') + TEST_SETTINGS}
    meta.update({k: v for k in TEST_SETTINGS if (v := getattr(args, k)) is not None})
    if isinstance(meta.get('config'), str):
        meta['config'] = portable_config(meta['config'])
    if len(args.in_files) > 1:
        meta['averaged'] = [os.path.basename(f) for f in args.in_files]
    if args.base:
        meta['interpolated'] = dict(base=os.path.basename(args.base), alpha=args.alpha)
    if args.recalibrate:
        meta['bn_recalibrated'] = dict(patches=used, seed=0)
    with atomic_write(args.out_file, 'wb') as f:
        torch.save(dict(meta=meta, state_dict=state), f)
    with open(args.out_file, 'rb') as f:
        print(hashlib.sha256(f.read()).hexdigest())


if __name__ == '__main__':
    main()
