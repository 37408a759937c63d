"""Conversions between COCO segmentations (RLE, polygons) and binary masks."""
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


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE of a binary mask, ``counts`` as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle
