"""RLE encoding, decoding checks and the mask helpers behind them."""
import re

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from bpr.core.masks import (MaskFormatError, check_segmentation, copy_foreground, decode, encode,
                            foreground_box, paste_box, rle_string_counts)
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


@pytest.mark.parametrize('seed', range(2))
def test_decode_equals_pycocotools(seed):
    """Compressed (str and bytes) and uncompressed RLEs, decoded column strip by column strip,
    give pycocotools' masks, as Fortran-order bool; so does a round trip through encode of
    small objects in a large image and of Fortran-order masks whose box fills most of it."""
    masks = list(random_masks(seed, 60, max_side=150))
    rng = np.random.default_rng(seed)
    for _ in range(10):
        big = np.zeros((300, 500), np.uint8)
        y, x = (int(v) for v in rng.integers(0, 290, 2))
        big[y:y + int(rng.integers(1, 10)), x:x + int(rng.integers(1, 200))] = 1
        masks += [big, np.asfortranarray(np.pad(big, 2, constant_values=1))]
    for m in masks:
        h, w = m.shape
        rle = _reference_rle(m)
        expected = mask_utils.decode(rle).astype(bool)
        bytes_rle = dict(rle, counts=rle['counts'].encode('ascii'))
        list_rle = dict(size=[h, w], counts=rle_string_counts(rle['counts']).tolist())
        for segm in (rle, bytes_rle, list_rle):
            for check in (True, False):
                got = decode(segm, h, w, check=check)
                assert got.dtype == bool and got.flags.f_contiguous
                assert np.array_equal(got, expected)
        assert encode(m) == rle and encode(expected) == rle


def test_decode_uncompressed_runs_with_empty_runs_anywhere():
    """Valid uncompressed RLEs may hold zero-length runs anywhere, and end on either value."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        cuts = np.sort(rng.integers(0, h * w + 1, int(rng.integers(0, 12))))
        runs = np.diff(np.concatenate([[0], cuts, [h * w]])).tolist()
        segm = dict(size=[h, w], counts=runs)
        expected = mask_utils.decode(mask_utils.frPyObjects(segm, h, w)).astype(bool)
        assert np.array_equal(decode(segm, h, w), expected)


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
    for x in (m, np.asfortranarray(m), png, np.zeros((3, 4), np.uint8), m[::-1, 1:]):
        copy = copy_foreground(x)
        assert copy.dtype == bool and np.array_equal(copy, x != 0)
        assert copy.flags.f_contiguous == (x.flags.f_contiguous and not x.flags.c_contiguous)
        assert not np.shares_memory(copy, x)


def _runs(mask):
    """Run lengths of a mask in Fortran order, starting with background."""
    flat = np.asfortranarray(mask).ravel(order='F').astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    return np.concatenate([[0], runs]) if flat.size and flat[0] else runs


@pytest.mark.parametrize('seed', range(2))
def test_rle_string_counts_are_the_run_lengths(seed):
    for m in random_masks(seed, 40):
        counts = rle_string_counts(encode(m)['counts'])
        assert counts.tolist() == _runs(m != 0).tolist()
        check_segmentation(encode(m), *m.shape)
    # large counts (several 5-bit groups), negative differences, an empty mask
    m = np.zeros((1000, 1500), bool)
    m[10:990, 700:701] = True
    m[500, :] = True
    for mask in (m, np.zeros((3, 4), bool), np.ones((3, 4), bool)):
        assert rle_string_counts(encode(mask)['counts']).tolist() == _runs(mask).tolist()


def test_check_segmentation_refuses_what_pycocotools_misreads():
    h, w = 12, 16
    good = encode(np.eye(h, w, dtype=bool))
    check_segmentation(good, h, w)
    check_segmentation(dict(size=[h, w], counts=[5, 10, h * w - 15]), h, w)
    check_segmentation([[0, 0, 5, 0, 5, 5.5]], h, w)
    bad = [
        (dict(size=[h, w], counts=[10]), 'sum to 10'),
        (dict(size=[h, w], counts=good['counts'][:-2]), 'sum to'),
        (dict(size=[h, w], counts=good['counts'][:-1] + 'o'), 'malformed'),
        (dict(size=[h, w], counts='0\x00'), 'malformed'),
        (dict(size=[h, w], counts=[h * w, -1, 1]), 'negative'),
        (dict(size=[h, w], counts=[1.5, h * w - 1.5]), 'not all integers'),
        (dict(size=[h, w], counts=None), 'neither a string nor a list'),
        (dict(size=['a', 'b'], counts='0'), 'is not [height, width]'),
        (dict(size=[w, h], counts=good['counts']), 'disagrees with the image size'),
        ([[1, 2, 3, 4]], 'at least 3'),
        ([[1, 2, 3, 4, 5]], 'at least 3'),
        ([[1, 2, 'x', 4, 5, 6]], 'at least 3'),
        ([[1, 2, float('nan'), 4, 5, 6]], 'non-finite'),
        ('abc', 'not an RLE dict or a polygon list'),
    ]
    for segm, needle in bad:
        with pytest.raises(MaskFormatError, match=re.escape(needle)):
            check_segmentation(segm, h, w, 'x.json: result [3]')
        with pytest.raises(MaskFormatError, match=r'^x\.json: result \[3\]'):
            decode(segm, h, w, 'x.json: result [3]')
