"""RLE encoding and the mask helpers behind it."""
import numpy as np
import pycocotools.mask as mask_utils
import pytest

from bpr.core.masks import encode, foreground_box, paste_box
from helpers import random_masks


def _reference_rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


@pytest.mark.parametrize('seed', range(2))
def test_encode_equals_pycocotools_in_any_layout(seed):
    """C order (encoded in the foreground's box), Fortran order, strided views, transposes,
    bool or uint8 with any non-zero value as foreground, empty and full masks."""
    for m in random_masks(seed, 60, max_side=150):
        for x in (m, m.astype(bool), np.asfortranarray(m), np.asfortranarray(m.astype(bool)),
                  m[::2, 1::3], m.T):
            rle = encode(x)
            assert rle == _reference_rle(x)
            assert np.array_equal(mask_utils.decode(rle), x != 0)


def test_paste_box_and_foreground_box():
    m = np.zeros((6, 8), bool)
    assert foreground_box(m) is None and not paste_box(m).any()
    m[1:3, 2:7] = True
    m[4, 3] = True
    assert foreground_box(m) == (slice(1, 5), slice(2, 7))
    assert foreground_box(np.asfortranarray(m)) == foreground_box(m)
    assert foreground_box(m.T) == (slice(2, 7), slice(1, 5))
    png = paste_box(m, 255)
    assert png.dtype == np.uint8 and png.flags.c_contiguous
    assert np.array_equal(png, m.astype(np.uint8) * 255)
    assert paste_box(np.asfortranarray(m), order='F').flags.f_contiguous
