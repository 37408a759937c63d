"""Refine the instance masks of one image and draw coarse vs refined boundaries.

    python demo/inference_img.py                       # the embedded example, offline
    python demo/inference_img.py --img photo.jpg --masks masks.json --checkpoint ckpt.pth

``--masks``: PNG (binary mask or instance label map), NPY ((N, H, W) or (H, W)) or COCO JSON.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bpr.apis.demo import run_demo  # noqa: E402
from bpr.apis.inference import add_test_options, device_arg, patch_config  # noqa: E402
from bpr.compat import ShowSilenced  # noqa: E402
from bpr.core.io import cli  # noqa: E402
from bpr.core.patches import setting_arg  # noqa: E402


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--img', help='image file (default: the embedded example)')
    parser.add_argument('--masks', nargs='+', help='coarse mask file(s)')
    parser.add_argument('--config', help='refiner config (default: configs/bpr/hrnet18s_128.py)')
    parser.add_argument('--checkpoint',
                        help="checkpoint (default: the project's model; 'none': random)")
    parser.add_argument('--out', default='demo/outputs/astronaut_refined.png',
                        help='output picture')
    parser.add_argument('--device', type=device_arg,
                        help='cuda, cpu, ... (default: cuda if available)')
    add_test_options(parser)
    parser.add_argument('--padding', type=setting_arg('padding'), default=0)
    parser.add_argument('--verbose', action=ShowSilenced)
    args = parser.parse_args(argv)
    if args.img and not args.masks:
        parser.error('--img needs --masks')
    _, coarse, _, _ = run_demo(args.img, args.masks, args.config, args.checkpoint, args.out,
                               args.device,
                               patch_config(args),
                               flip=args.flip)
    print(f'refined {len(coarse)} instance(s): {args.out}')


if __name__ == '__main__':
    main()
