"""Pasting refined patch probabilities back into an instance mask."""
import numpy as np


def paste_patches(coarse: np.ndarray, boxes: np.ndarray, probs: np.ndarray,
                  padding: int) -> np.ndarray:
    """Refined binary mask from the coarse mask and the patches' foreground probabilities.

    Every pixel covered by patches becomes ``mean(prob) > 0.5`` over those patches (padding
    cropped off first); uncovered pixels keep the coarse value. ``boxes`` (N, 4) are in the
    coordinates of ``coarse``, ``probs`` (N, S, S) with ``S = box side + 2 * padding``.
    """
    # C order: the flat view below must write into this array (decoded RLEs are in F order)
    refined = np.array(coarse, dtype=bool, order='C')
    if len(boxes) == 0:
        return refined
    h, w = coarse.shape
    side = probs.shape[1] - 2 * padding
    probs = probs[:, padding:padding + side, padding:padding + side]
    ys = boxes[:, 1, None, None] + np.arange(side)[None, :, None]
    xs = boxes[:, 0, None, None] + np.arange(side)[None, None, :]
    ys, xs = np.broadcast_arrays(ys, xs)
    inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    flat = ys[inside] * w + xs[inside]
    total = np.bincount(flat, weights=probs[inside], minlength=h * w)
    count = np.bincount(flat, minlength=h * w)
    covered = count > 0
    refined.ravel()[covered] = total[covered] > 0.5 * count[covered]
    return refined
