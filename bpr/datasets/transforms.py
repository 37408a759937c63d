"""Resizing that keeps label maps and coarse masks on the image's pixel grid."""
from typing import Tuple

import cv2
import numpy as np
from mmseg.datasets.builder import PIPELINES
from mmseg.datasets.pipelines import Resize


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` pixels resampled from ``src`` nearest to its centre.

    What torch's ``nearest-exact`` reads (but for a rare float tie, e.g. 448 to 160 px),
    computed here so that the pipeline and :func:`~bpr.apis.run_patches` read the same
    pixels. OpenCV's ``INTER_NEAREST`` (mmcv's ``nearest``) reads at the pixel's top-left
    corner instead, and its ``INTER_NEAREST_EXACT`` rounds some ties the other way (64 to
    160 px).
    """
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64), src - 1)


def resize_nearest(array: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``array`` (H, W, ...) resampled to ``size`` (h, w) at the pixel centres."""
    if array.ndim == 2 and array.dtype in (np.uint8, np.float32) and \
            all(m % n == 0 for n, m in zip(array.shape[:2], size)):
        # whole-number enlargements read the same pixels either way; OpenCV's is faster
        return cv2.resize(array, size[::-1], interpolation=cv2.INTER_NEAREST)
    rows, cols = (nearest_indices(n, m) for n, m in zip(array.shape[:2], size))
    return array.take(rows, axis=0).take(cols, axis=1)  # 4x faster than array[rows, cols]


@PIPELINES.register_module()
class ResizeExact(Resize):
    """mmseg's ``Resize`` with label maps and coarse masks sampled at the pixel centres.

    The stock step reads them at each pixel's top-left corner: at a non-integer scale (a
    48-px patch to 128) the mask lands a third of a network pixel to the bottom right of the
    image it belongs to. Integer scales (64 to 128) give the same either way.
    """

    def _resize_seg(self, results: dict) -> None:
        size = results['img_shape'][:2]
        for key in results.get('seg_fields', []):
            results[key] = resize_nearest(results[key], size)
