"""Conversions between COCO segmentations (RLE, polygons) and binary masks."""
from typing import Optional, Tuple, Union

import numpy as np
import pycocotools.mask as mask_utils

from .io import InputError


class MaskFormatError(InputError):
    """A segmentation that cannot be read, or of the wrong size."""


def rle_string_counts(counts: Union[str, bytes]) -> Optional[np.ndarray]:
    """The run lengths of a compressed COCO RLE string (``None`` if it is malformed).

    The format of pycocotools' ``rleToString``: each count in 5-bit groups (6 bits per
    character from ``'0'``, bit 5 "more follows", bit 4 of the last group the sign), counts
    after the second stored as differences to the one two places before.
    """
    raw = counts.encode('ascii', 'replace') if isinstance(counts, str) else bytes(counts)
    c = np.frombuffer(raw, np.uint8).astype(np.int64) - 48
    if len(c) == 0:
        return np.zeros(0, np.int64)
    if c.min() < 0 or c.max() > 63 or c[-1] & 0x20:  # foreign character, or cut short
        return None
    last = (c & 0x20) == 0
    starts = np.flatnonzero(np.concatenate([[True], last[:-1]]))
    k = np.arange(len(c)) - np.repeat(starts, np.diff(np.append(starts, len(c))))
    if k.max() > 11:  # longer than any count fits in
        return None
    values = np.add.reduceat((c & 0x1f) << (5 * k), starts)
    ends = np.flatnonzero(last)
    values -= ((c[ends] & 0x10) != 0) << (5 * (k[ends] + 1))  # sign extension
    out = values.copy()
    out[3::2] = np.cumsum(values[1::2])[1:]
    out[2::2] = np.cumsum(values[2::2])
    return out


def check_segmentation(segm, height: int, width: int,
                       where: str = 'segmentation') -> Optional[np.ndarray]:
    """Raise :class:`MaskFormatError` naming ``where`` unless ``segm`` is a COCO segmentation
    of an ``height x width`` image: polygons of at least 3 numeric points, or an RLE of that
    ``size`` whose run lengths are non-negative and sum to ``height * width``. Returns an
    RLE's run lengths (``None`` for polygons)."""
    if isinstance(segm, list):
        for k, poly in enumerate(segm):
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly):
                raise MaskFormatError(f'{where}: polygon [{k}] is not a list of at least 3 '
                                      f'numeric (x, y) points')
            if not np.isfinite(poly).all():
                raise MaskFormatError(f'{where}: polygon [{k}] has a non-finite coordinate')
        return None
    if not isinstance(segm, dict) or 'counts' not in segm or 'size' not in segm:
        raise MaskFormatError(f'{where}: not an RLE dict or a polygon list')
    size = segm['size']
    if not isinstance(size, list) or len(size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in size):
        raise MaskFormatError(f'{where}: RLE size {size!r} is not [height, width]')
    if size != [height, width]:
        raise MaskFormatError(
            f'{where}: RLE size {size} disagrees with the image size {[height, width]}')
    counts = segm['counts']
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            raise MaskFormatError(f'{where}: RLE counts are not all integers')
        runs = np.asarray(counts, np.int64)
    elif isinstance(counts, (str, bytes)):
        runs = rle_string_counts(counts)
        if runs is None:
            raise MaskFormatError(f'{where}: RLE counts string is malformed')
    else:
        raise MaskFormatError(f'{where}: RLE counts are neither a string nor a list')
    if (runs < 0).any():
        raise MaskFormatError(f'{where}: RLE has negative run lengths')
    if runs.sum() != height * width:
        raise MaskFormatError(f'{where}: RLE run lengths sum to {runs.sum()}, not '
                              f'{height}x{width} = {height * width}')
    return runs


def runs_to_mask(runs: np.ndarray, height: int, width: int) -> np.ndarray:
    """Binary (H, W) Fortran-order mask of RLE run lengths (zeros first, then alternating)."""
    out = np.zeros((height, width), bool, order='F')
    edges = np.concatenate([[0], np.cumsum(runs)])
    ones = np.flatnonzero(runs[1::2]) * 2 + 1
    if len(ones):
        # only the columns that hold foreground are written: cost ~ height x box width
        lo = edges[ones[0]] // height * height
        hi = -(-edges[ones[-1] + 1] // height) * height
        lengths = np.diff(np.clip(edges, lo, hi))
        out.T.reshape(-1)[lo:hi] = np.repeat(np.arange(len(runs)) % 2 == 1, lengths)
    return out


def mask_to_runs(mask: np.ndarray, box: Optional[Tuple[slice, slice]] = None) -> np.ndarray:
    """RLE run lengths of a (H, W) mask (non-zero: foreground), as pycocotools counts them:
    column-major, zeros first, no trailing zero run. ``box``: its :func:`foreground_box`,
    if known."""
    h, w = mask.shape
    box = foreground_box(mask) if box is None else box
    if box is None:
        return np.array([h * w], np.int64)
    (y1, y2), (x1, x2) = (box[0].start, box[0].stop), (box[1].start, box[1].stop)
    # the box's columns, one per row, between a zero above and below: every run of ones
    # starts and ends inside, and only the box is scanned
    cols = np.zeros((x2 - x1, y2 - y1 + 2), bool)
    cols[:, 1:-1] = (mask[y1:y2, x1:x2] != 0).T
    flat = cols.ravel()
    col, row = np.divmod(np.flatnonzero(flat[1:] != flat[:-1]) + 1, y2 - y1 + 2)
    at = (x1 + col) * h + y1 - 1 + row  # image positions in column-major order
    starts, ends = at[0::2], at[1::2]
    joined = starts[1:] == ends[:-1]  # a run down to the bottom going on at the next top
    starts = np.concatenate([starts[:1], starts[1:][~joined]])
    ends = np.concatenate([ends[:-1][~joined], ends[-1:]])
    bounds = np.empty(2 * len(starts) + 2, np.int64)
    bounds[0], bounds[1:-1:2], bounds[2:-1:2], bounds[-1] = 0, starts, ends, h * w
    runs = np.diff(bounds)
    return runs[:-1] if runs[-1] == 0 else runs


def decode(segm, height: int, width: int, where: str = 'segmentation',
           check: bool = True) -> np.ndarray:
    """Binary (H, W) mask of a COCO segmentation: RLE (str/bytes counts, or uncompressed) or
    polygons. Raises :class:`MaskFormatError` naming ``where`` if it is malformed or not of
    that size (:func:`check_segmentation`; ``check=False`` for one already checked)."""
    runs = check_segmentation(segm, height, width, where) if check else None
    if isinstance(segm, list):
        if not segm:
            return np.zeros((height, width), bool)
        rles = mask_utils.frPyObjects(segm, height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(bool)
    if runs is None:
        counts = segm['counts']
        runs = np.asarray(counts, np.int64) if isinstance(counts, list) else \
            rle_string_counts(counts)
    # pycocotools' decode writes every pixel; small objects in large images cost far less
    return runs_to_mask(runs, height, width)


def foreground_box(mask: np.ndarray) -> Optional[Tuple[slice, slice]]:
    """Row and column slices of the bounding box of a mask's non-zero pixels (``None``
    if there is none)."""
    if mask.flags.f_contiguous and not mask.flags.c_contiguous:  # reduce along memory
        box = foreground_box(mask.T)
        return None if box is None else box[::-1]
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    y1, y2 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[y1:y2].any(axis=0))
    return slice(y1, y2), slice(int(cols[0]), int(cols[-1]) + 1)


def paste_box(mask: np.ndarray, value: int = 1, order: str = 'C') -> np.ndarray:
    """uint8 copy of a binary mask, ``value`` where it is non-zero, in memory ``order``;
    only the foreground's box is converted, the rest is allocated as zeros."""
    out = np.zeros(mask.shape, np.uint8, order=order)
    box = foreground_box(mask)
    if box is not None:
        out[box] = mask[box] != 0
        if value != 1:
            out[box] *= value
    return out


def copy_foreground(mask: np.ndarray) -> np.ndarray:
    """bool copy of a mask in its memory order, written in the foreground's box only: a
    fresh image-size array costs memory traffic only where it is written."""
    order = 'F' if mask.flags.f_contiguous and not mask.flags.c_contiguous else 'C'
    return paste_box(mask, order=order).view(bool)


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE of a (H, W) mask (non-zero: foreground), ``counts`` as str."""
    # pycocotools' encode scans (and needs in Fortran order) the whole image; the runs are
    # found in the foreground's box and only compressed there (2-5x faster for a small or
    # medium object in a 2048x1024 image)
    h, w = mask.shape
    box = foreground_box(mask)
    if box is not None and mask.flags.f_contiguous and \
            8 * (box[0].stop - box[0].start) * (box[1].stop - box[1].start) > h * w:
        rle = mask_utils.encode((mask if mask.dtype == bool else mask != 0).view(np.uint8))
    else:
        runs = [h * w] if box is None else mask_to_runs(mask, box).tolist()
        rle = mask_utils.frPyObjects(dict(size=[h, w], counts=runs), h, w)
    rle['counts'] = rle['counts'].decode('ascii')
    return rle
