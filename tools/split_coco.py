"""Split a COCO ground truth by a fixed rule: every N-th image (sorted by file name) is held out.

    python tools/split_coco.py GT_JSON TRAIN_JSON HELDOUT_JSON --every 20

The rule depends on the file names alone, so the held-out split is the same on every machine
and for every run; train on TRAIN_JSON only.
"""
import argparse

from bpr.core.io import check_output, cli, dump_json, load_gt


def split_every(gt: dict, every: int, offset: int = 0):
    """``(train, held_out)`` COCO dicts: images at positions ``offset, offset + every, ...``
    of the name-sorted list are held out, with their annotations."""
    held = set(sorted(img['file_name'] for img in gt['images'])[offset::every])

    def subset(images):
        ids = {img['id'] for img in images}
        return dict(gt, images=images,
                    annotations=[a for a in gt['annotations'] if a['image_id'] in ids])

    return (subset([img for img in gt['images'] if img['file_name'] not in held]),
            subset([img for img in gt['images'] if img['file_name'] in held]))


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('gt_json')
    parser.add_argument('train_json')
    parser.add_argument('heldout_json')
    parser.add_argument('--every', type=int, default=20, help='hold out every N-th image')
    parser.add_argument('--offset', type=int, default=0, help='position of the first one')
    args = parser.parse_args(argv)
    if args.every < 2 or not 0 <= args.offset < args.every:
        parser.error('--every must be at least 2 and --offset in [0, every)')
    for out in (args.train_json, args.heldout_json):
        check_output(out, [args.gt_json])
    train, held = split_every(load_gt(args.gt_json), args.every, args.offset)
    dump_json(train, args.train_json)
    dump_json(held, args.heldout_json)
    print(f'{len(train["images"])} training images, {len(held["images"])} held out')


if __name__ == '__main__':
    main()
