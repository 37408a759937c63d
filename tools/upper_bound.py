"""Upper bound of refinement: ground truth pasted inside the selected boundary patches.

    python tools/upper_bound.py COARSE_JSON GT_JSON OUT_JSON [--iou-thresh 0.25 ...]
    python tools/upper_bound.py COARSE_JSON GT_JSON OUT_JSON --checkpoint CKPT
    python tools/upper_bound.py COARSE_JSON GT_JSON OUT_JSON --band 2

``--checkpoint`` selects the patches that checkpoint refines (the NMS IoU threshold and patch
size in its meta, unless ``--iou-thresh`` or ``--patch-size`` is given). ``--band N`` pastes
the ground truth within N px of the coarse boundary instead (the paper's Table 1 upper bound).
``--stride K`` sees the pasted ground truth at the resolution of a network output with one
pixel per K px of the patch (hrnet18s_128 on 64-px patches: 2).

Evaluate OUT_JSON with tools/eval.py to see how much a perfect refiner could gain.
"""
import argparse

from bpr.apis.inference import checkpoint_settings, for_model
from bpr.core import PatchConfig
from bpr.core.io import check_output, cli, dump_json, load_gt, load_results
from bpr.core.patches import SAMPLING_HELP, SAMPLINGS, setting_arg
from bpr.evaluation import upper_bound_results


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('coarse_json')
    parser.add_argument('gt_json')
    parser.add_argument('out_json')
    parser.add_argument('--iou-thresh', type=setting_arg('iou_thresh'),
                        help='NMS IoU threshold (default: the --checkpoint\'s own, else 0.25)')
    parser.add_argument('--checkpoint', help="the patches of this checkpoint ('default': the "
                        "project's model)")
    parser.add_argument('--patch-size', type=setting_arg('patch_size'),
                        help="box side in px (default: the --checkpoint's own, else 64)")
    parser.add_argument('--patch-ratio', type=setting_arg('patch_ratio'),
                        help="boxes at least this fraction of their instance's longer side "
                        "(default: the --checkpoint's own, else 0)")
    parser.add_argument('--padding', type=setting_arg('padding'), default=0)
    parser.add_argument('--sampling', choices=SAMPLINGS, default='nms', help=SAMPLING_HELP)
    parser.add_argument('--min-size', type=setting_arg('min_size'), default=0,
                        help='instances smaller than this (px, longer box side) keep their '
                        'coarse mask')
    parser.add_argument('--band', type=int,
                        help='paste within this many px of the boundary instead of patches')
    parser.add_argument('--stride', type=int, default=1,
                        help='patch px per pixel of the network output (a perfect network of '
                        'that resolution)')
    args = parser.parse_args(argv)
    if args.band is not None and args.band < 1:
        parser.error('--band must be at least 1')
    if args.band is not None and args.stride != 1:
        parser.error('--stride applies to patches, not to --band')
    check_output(args.out_json, [args.coarse_json, args.gt_json])
    cfg = PatchConfig(args.patch_size, args.padding, args.iou_thresh, args.sampling,
                      args.min_size, patch_ratio=args.patch_ratio)
    if args.checkpoint:
        cfg = for_model(cfg, checkpoint_settings(args.checkpoint))
    if args.stride < 1 or cfg.side % args.stride:
        parser.error('--stride must divide the padded patch size (--patch-size + 2 x --padding)')
    gt = load_gt(args.gt_json)
    results = load_results(args.coarse_json, gt, args.gt_json)
    dump_json(upper_bound_results(results, gt, cfg, args.band, args.stride), args.out_json)


if __name__ == '__main__':
    main()
