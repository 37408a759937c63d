"""Reading and writing the COCO-form files of the pipeline, with errors that name the file."""
import functools
import json
import os
import os.path as osp
import sys
import tempfile
from collections import defaultdict
from typing import Dict, List, Tuple

import cv2
from PIL import Image

EXIF_ORIENTATION = 0x0112


class InputError(ValueError):
    """Bad input: the message names the file and what is wrong with it."""


def cli(main):
    """Decorator of the tools' ``main``: bad input ends the run with one line
    ``error: <file>: <problem>`` on stderr and exit status 1, without a traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except (InputError, FileNotFoundError) as err:
            sys.exit(f'error: {err}')

    return wrapper


def load_json(path: str, what: str = 'JSON'):
    if not osp.isfile(path):
        raise InputError(f'{path}: {what} file not found')
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f'{path}: not valid JSON ({err})') from None


def dump_json(obj, path: str) -> None:
    """Write JSON atomically: the file appears complete or not at all."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix='.json')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_gt(path: str) -> dict:
    """A COCO instances JSON, checked for the fields the pipeline uses."""
    gt = load_json(path, 'ground-truth')
    if not isinstance(gt, dict) or not isinstance(gt.get('images'), list):
        raise InputError(f'{path}: not a COCO ground-truth file (no "images" list)')
    for i, img in enumerate(gt['images']):
        if not all(k in img for k in ('id', 'file_name', 'height', 'width')):
            raise InputError(f'{path}: images[{i}] lacks id/file_name/height/width')
    gt.setdefault('annotations', [])
    return gt


def load_results(path: str, gt: dict, gt_path: str = 'ground truth') -> List[dict]:
    """COCO-form instance results, checked against the ground truth's images.

    Every result needs an ``image_id`` present in ``gt`` and a ``segmentation`` that is a
    polygon list or an RLE whose ``size`` is the image's ``[h, w]``.
    """
    results = load_json(path, 'results')
    if not isinstance(results, list):
        raise InputError(f'{path}: expected a JSON list of instance results')
    images = {img['id']: img for img in gt['images']}
    for i, res in enumerate(results):
        if not isinstance(res, dict) or 'image_id' not in res or 'segmentation' not in res:
            raise InputError(f'{path}: result [{i}] lacks image_id or segmentation')
        img = images.get(res['image_id'])
        if img is None:
            raise InputError(
                f'{path}: result [{i}] has image_id {res["image_id"]!r}, not in {gt_path}')
        segm = res['segmentation']
        if isinstance(segm, dict):
            size = segm.get('size')
            if not isinstance(size, list) or [int(v) for v in size] != [img['height'],
                                                                         img['width']]:
                raise InputError(
                    f'{path}: result [{i}] RLE size {size} disagrees with image '
                    f'{img["file_name"]} of size {[img["height"], img["width"]]}')
            if 'counts' not in segm:
                raise InputError(f'{path}: result [{i}] RLE has no counts')
        elif not isinstance(segm, list):
            raise InputError(f'{path}: result [{i}] segmentation is neither RLE nor polygons')
    return results


def group_by_image(results: List[dict]) -> Dict[int, List[int]]:
    """Indices of the results of each image id, in input order."""
    groups = defaultdict(list)
    for i, res in enumerate(results):
        groups[res['image_id']].append(i)
    return dict(groups)


def image_size(path: str) -> Tuple[int, int]:
    """``(h, w)`` of an image file as ``mmcv.imread(path, 'color')`` will decode it, from
    its header alone (OpenCV applies the EXIF orientation, which may swap the sides)."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            # getexif() may decode a whole PNG looking for the chunk: only parse what is there
            orientation = im.getexif().get(EXIF_ORIENTATION, 1) if 'exif' in im.info else 1
    except (OSError, SyntaxError, ValueError) as err:
        # formats that OpenCV reads and Pillow does not (HDR, EXR, ...): decode them
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f'{path}: not a readable image ({err})') from None
        return img.shape[:2]
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def check_images(gt: dict, image_ids, img_dir: str) -> None:
    """Raise if an image of ``image_ids`` is missing from ``img_dir``, unreadable, or not of
    the size the ground truth gives; headers only, so that a run fails before any work."""
    images = {img['id']: img for img in gt['images']}
    for image_id in image_ids:
        info = images[image_id]
        path = osp.join(img_dir, info['file_name'])
        if not osp.isfile(path):
            raise InputError(f'{path}: image file not found (image_id {image_id})')
        size = image_size(path)
        if size != (info['height'], info['width']):
            raise InputError(f'{path}: image of size {size[0]}x{size[1]}, the ground truth '
                             f'gives {info["height"]}x{info["width"]}')
