"""Cityscapes gtFine -> instancesonly_filtered_gtFine_{train,val}.json (COCO form).

    python tools/convert_datasets/cityscapes.py data/cityscapes [--split train val]

Reads CITYSCAPES/gtFine/SPLIT/*/*_gtFine_instanceIds.png, writes CITYSCAPES/annotations/.
"""
import argparse
import os.path as osp

from bpr.core.cityscapes import gtfine_to_coco
from bpr.core.io import cli, dump_json


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('cityscapes_path', help='folder holding gtFine/')
    parser.add_argument('--gt-dir', default='gtFine')
    parser.add_argument('-o', '--out-dir', help='default: CITYSCAPES/annotations')
    parser.add_argument('--split', nargs='+', default=['train', 'val'])
    parser.add_argument('--num-proc', type=int, default=1, help='worker processes')
    args = parser.parse_args(argv)
    out_dir = args.out_dir or osp.join(args.cityscapes_path, 'annotations')
    for split in args.split:
        coco = gtfine_to_coco(osp.join(args.cityscapes_path, args.gt_dir), split,
                              args.num_proc)
        path = osp.join(out_dir, f'instancesonly_filtered_gtFine_{split}.json')
        dump_json(coco, path)
        print(f'{len(coco["images"])} images, {len(coco["annotations"])} instances -> {path}')


if __name__ == '__main__':
    main()
