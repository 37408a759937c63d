"""Combine COCO ground-truth files into one, images addressed from a common folder.

    python tools/combine_coco.py OUT_JSON A.json:images_a/ B.json:images_b/

Each input is ``JSON:PREFIX``; PREFIX is prepended to its ``file_name`` values. Image and
annotation ids are renumbered; categories are merged by id (names must agree).
"""
import argparse

from bpr.core.io import InputError, check_output, cli, dump_json, load_gt


def combine(parts):
    images, anns, cats = [], [], {}
    for path, prefix in parts:
        gt = load_gt(path)
        for cat in gt.get('categories', []):
            if cat['id'] in cats and cats[cat['id']]['name'] != cat['name']:
                raise InputError(f'{path}: category {cat["id"]} is {cat["name"]!r}, '
                                 f'elsewhere {cats[cat["id"]]["name"]!r}')
            cats.setdefault(cat['id'], cat)
        new_id = {}
        for img in gt['images']:
            new_id[img['id']] = len(images) + 1
            images.append(dict(img, id=new_id[img['id']], file_name=prefix + img['file_name']))
        for ann in gt['annotations']:
            anns.append(dict(ann, id=len(anns) + 1, image_id=new_id[ann['image_id']]))
    return dict(images=images, annotations=anns, categories=sorted(cats.values(),
                                                                   key=lambda c: c['id']))


@cli
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out_json')
    parser.add_argument('inputs', nargs='+', help='GT_JSON:FILE_NAME_PREFIX')
    args = parser.parse_args(argv)
    parts = [tuple(s.split(':', 1)) if ':' in s else (s, '') for s in args.inputs]
    check_output(args.out_json, [path for path, _ in parts])
    gt = combine(parts)
    dump_json(gt, args.out_json)
    print(f'{len(gt["images"])} images, {len(gt["annotations"])} instances -> {args.out_json}')


if __name__ == '__main__':
    main()
