"""Reading and writing the COCO-form files of the pipeline, with errors that name the file."""
import argparse
import contextlib
import functools
import json
import os
import os.path as osp
import sys
import tempfile
from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import cv2
from PIL import Image

EXIF_ORIENTATION = 0x0112


class InputError(ValueError):
    """Bad input: the message names the file and what is wrong with it."""


ERROR_DIR = 'BPR_ERROR_DIR'  # set by bpr.apis.launch for its workers
INTERRUPTED = 'interrupted'


def _fail(message: str, status: int):
    """End the process with ``message`` on stderr, or, in a worker of
    :mod:`bpr.apis.launch`, in its error folder (the launcher prints each message once)."""
    folder = os.environ.get(ERROR_DIR)
    if folder and osp.isdir(folder):
        with open(osp.join(folder, os.environ.get('RANK', '0')), 'w') as f:
            f.write(message)
    else:
        print(message, file=sys.stderr)
    sys.exit(status)


def arg_type(convert: Callable, ok: Callable, expected: str) -> Callable[[str], object]:
    """An argparse ``type``: ``convert(text)`` where ``ok`` of it, else the tool's usage error
    ``'TEXT': expected EXPECTED``, before any work."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f'{text!r}: expected {expected}')
        return value
    return parse


def int_arg(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer of at least ``minimum``."""
    return arg_type(int, lambda v: v >= minimum, f'an integer >= {minimum}')


def float_arg(low: float = 0.0, high: Optional[float] = None) -> Callable[[str], float]:
    """An argparse ``type``: a number of at least ``low`` (and at most ``high``)."""
    if high is None:
        return arg_type(float, lambda v: v >= low, f'a number >= {low:g}')
    return arg_type(float, lambda v: low <= v <= high, f'a number in [{low:g}, {high:g}]')


def cli(main):
    """Decorator of the tools' ``main``: bad input ends the run with one line
    ``error: <file>: <problem>`` on stderr and exit status 1, Ctrl-C with ``interrupted`` and
    status 130, without a traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except (InputError, FileNotFoundError) as err:
            _fail(f'error: {err}', 1)
        except KeyboardInterrupt:
            _fail(INTERRUPTED, 130)

    return wrapper


def load_json(path: str, what: str = 'JSON'):
    if not osp.isfile(path):
        raise InputError(f'{path}: {what} file not found')
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f'{path}: not valid JSON ({err})') from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'w'):
    """A file object whose content replaces ``path`` only when the block completes: the
    file appears whole or not at all, with the permissions of the user's umask."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix=osp.splitext(path)[1])
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates files readable by the owner only
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def dump_json(obj, path: str) -> None:
    """Write JSON atomically (:func:`atomic_write`)."""
    with atomic_write(path) as f:
        json.dump(obj, f)


def _same_file(a: str, b: str) -> bool:
    return osp.realpath(a) == osp.realpath(b) or (
        osp.exists(a) and osp.exists(b) and osp.samefile(a, b))


def check_output(path: str, inputs: Iterable[str] = (), folder: bool = False) -> None:
    """Refuse, before any work, an output path that is one of ``inputs``, an existing
    directory (an existing file, for an output ``folder``), or not writable there. The
    folder that will hold the output is created."""
    if not path:
        raise InputError('output path is empty')
    for inp in inputs:
        if inp and _same_file(path, inp):
            raise InputError(f'{path}: output would overwrite the input {inp}')
    if folder:
        if osp.exists(path) and not osp.isdir(path):
            raise InputError(f'{path}: output folder is an existing file')
        target = path
    else:
        if osp.isdir(path):
            raise InputError(f'{path}: output file is an existing directory')
        target = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(target, exist_ok=True)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise InputError(f'{path}: cannot write there ({err.strerror or err})') from None


def load_gt(path: str) -> dict:
    """A COCO instances JSON, checked for the fields the pipeline uses.

    LVIS's images have no ``file_name``: it is taken from their ``coco_url`` as
    ``split/name`` (``val2017/000000397133.jpg``, relative to the COCO root), as mmdetection
    and detectron2 do.
    """
    gt = load_json(path, 'ground-truth')
    if not isinstance(gt, dict) or not isinstance(gt.get('images'), list):
        raise InputError(f'{path}: not a COCO ground-truth file (no "images" list)')
    for i, img in enumerate(gt['images']):
        if isinstance(img, dict) and 'file_name' not in img and 'coco_url' in img:
            parts = str(img['coco_url']).split('/')[-2:]
            if len(parts) < 2 or any(p in ('', '.', '..') for p in parts):
                raise InputError(f'{path}: images[{i}] has coco_url {img["coco_url"]!r}, '
                                 'not .../split/name')
            img['file_name'] = '/'.join(parts)
        if not isinstance(img, dict) or not all(
                k in img for k in ('id', 'file_name', 'height', 'width')):
            raise InputError(f'{path}: images[{i}] lacks id/file_name/height/width')
    gt.setdefault('annotations', [])
    return gt


def load_results(path: str, gt: dict, gt_path: str = 'ground truth') -> List[dict]:
    """COCO-form instance results, all checked against the ground truth before any work.

    Every result needs an ``image_id`` present in ``gt`` and a well-formed ``segmentation``
    of that image's size: polygons of at least 3 numeric points, or an RLE whose run lengths
    sum to ``h * w`` (:func:`bpr.core.masks.check_segmentation`).
    """
    from .masks import check_segmentation
    results = load_json(path, 'results')
    if not isinstance(results, list):
        raise InputError(f'{path}: expected a JSON list of instance results')
    images = {img['id']: img for img in gt['images']}
    for i, res in enumerate(results):
        if not isinstance(res, dict) or 'image_id' not in res or 'segmentation' not in res:
            raise InputError(f'{path}: result [{i}] lacks image_id or segmentation')
        image_id = res['image_id']
        if not isinstance(image_id, (int, str)) or isinstance(image_id, bool):
            raise InputError(f'{path}: result [{i}] has image_id {image_id!r}, not an id')
        img = images.get(image_id)
        if img is None:
            raise InputError(f'{path}: result [{i}] has image_id {image_id!r}, not in {gt_path}')
        category_id = res.get('category_id', 0)
        if not isinstance(category_id, (int, str)) or isinstance(category_id, bool):
            raise InputError(f'{path}: result [{i}] has category_id {category_id!r}, not an id')
        check_segmentation(res['segmentation'], img['height'], img['width'],
                           f'{path}: result [{i}] (image {img["file_name"]})')
    return results


def group_by_image(results: List[dict]) -> Dict[int, List[int]]:
    """Indices of the results of each image id, in input order."""
    groups = defaultdict(list)
    for i, res in enumerate(results):
        groups[res['image_id']].append(i)
    return dict(groups)


def image_size(path: str) -> Tuple[int, int]:
    """``(h, w)`` of an image file as ``mmcv.imread(path, 'color')`` will decode it, from
    its header alone (OpenCV applies the EXIF orientation, which may swap the sides); a
    truncated JPEG or PNG is refused."""
    check_complete(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            # getexif() may decode a whole PNG looking for the chunk: only parse what is there
            orientation = im.getexif().get(EXIF_ORIENTATION, 1) if 'exif' in im.info else 1
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError) as err:
        # formats that OpenCV reads and Pillow does not (HDR, EXR, ...): decode them
        with quiet_opencv():
            img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f'{path}: not a readable image ({err})') from None
        return img.shape[:2]
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def read_image(path: str, flag: str = 'color'):
    """``mmcv.imread(path, flag)``, or :class:`InputError` naming the file when it is
    missing, empty or does not decode."""
    import mmcv
    if not osp.isfile(path):
        raise InputError(f'{path}: image file not found')
    if osp.getsize(path) == 0:
        raise InputError(f'{path}: empty file, not an image')
    try:
        with quiet_opencv():
            img = mmcv.imread(path, flag)
    except (cv2.error, OSError, ValueError) as err:
        raise InputError(f'{path}: not a readable image ({str(err).strip()[:80]})') from None
    if img is None:
        raise InputError(f'{path}: not a readable image')
    return img


@contextlib.contextmanager
def quiet_opencv():
    """No OpenCV log line (a file that does not decode): the caller reports it."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


# signature -> (format, end marker): a cut-off download or copy lacks the end marker
_TRAILERS = {b'\xff\xd8': ('JPEG', b'\xff\xd9'), b'\x89PNG': ('PNG', b'IEND')}


def check_complete(path: str) -> None:
    """Raise if a JPEG or PNG file lacks its end marker (truncated)."""
    with open(path, 'rb') as f:
        head = f.read(4)
        for signature, (fmt, marker) in _TRAILERS.items():
            if head.startswith(signature):
                f.seek(max(osp.getsize(path) - 1024, 0))
                if marker not in f.read():
                    raise InputError(f'{path}: truncated {fmt} file (no end marker)')


def check_images(gt: dict, image_ids, img_dir: str) -> None:
    """Raise if an image of ``image_ids`` is missing from ``img_dir``, unreadable, truncated
    or not of the size the ground truth gives; headers and end markers only, so that a run
    fails before any work."""
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
