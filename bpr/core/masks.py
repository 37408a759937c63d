"""Conversions between COCO segmentations (RLE, polygons) and binary masks."""
from typing import Optional, Tuple

import numpy as np
import pycocotools.mask as mask_utils

from .io import InputError


class MaskFormatError(InputError):
    """A segmentation that cannot be read, or of the wrong size."""


def decode(segm, height: int, width: int, where: str = 'segmentation') -> np.ndarray:
    """Binary (H, W) mask of a COCO segmentation: RLE (str/bytes counts, or uncompressed) or
    polygons. Raises :class:`MaskFormatError` naming ``where`` if it is not of that size."""
    if isinstance(segm, list):
        if not segm:
            return np.zeros((height, width), bool)
        rles = mask_utils.frPyObjects(segm, height, width)
        return mask_utils.decode(mask_utils.merge(rles)).astype(bool)
    if not isinstance(segm, dict) or 'counts' not in segm or 'size' not in segm:
        raise MaskFormatError(f'{where}: not an RLE dict or a polygon list')
    size = [int(v) for v in segm['size']]
    if size != [height, width]:
        raise MaskFormatError(
            f'{where}: RLE size {size} disagrees with the image size {[height, width]}')
    if isinstance(segm['counts'], list):  # uncompressed RLE
        segm = mask_utils.frPyObjects(segm, height, width)
    try:
        return mask_utils.decode(segm).astype(bool)
    except Exception as err:  # pycocotools raises bare errors on corrupt counts
        raise MaskFormatError(f'{where}: RLE counts do not decode ({err})') from None


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


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE of a (H, W) mask (non-zero: foreground), ``counts`` as str."""
    # RLEs run in Fortran order: a C-order mask is converted in its foreground's box only,
    # instead of being transposed whole (5x faster for a car in a Cityscapes image)
    if mask.flags.f_contiguous:
        fortran = mask if mask.dtype == bool else mask != 0
    else:
        fortran = paste_box(mask, order='F')
    rle = mask_utils.encode(np.asfortranarray(fortran, dtype=np.uint8))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle
