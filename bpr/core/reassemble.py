"""Pasting refined patch probabilities back into an instance mask."""
import cv2
import numpy as np


def paste_patches(coarse: np.ndarray, boxes: np.ndarray, probs: np.ndarray,
                  padding: int) -> np.ndarray:
    """Refined binary mask from the coarse mask and the patches' foreground probabilities.

    Every pixel covered by patches becomes ``mean(prob) > 0.5`` over those patches (padding
    cropped off first); uncovered pixels keep the coarse value. ``boxes`` (N, 4) are in the
    coordinates of ``coarse`` with non-negative corners (as ``move_inside`` leaves them),
    ``probs`` (N, S, S) with ``S = box side + 2 * padding``.
    """
    if len(boxes) == 0:
        return np.array(coarse, dtype=bool)
    h, w = coarse.shape
    side = probs.shape[1] - 2 * padding
    probs = probs[:, padding:padding + side, padding:padding + side]
    # Accumulate on a canvas grown by one patch so that boxes running past the bottom/right
    # edge (images smaller than a patch) need no clipping. One slice addition per patch is
    # faster than a single scatter-add of all patches (np.bincount over the canvas).
    total = np.zeros((h + side, w + side))
    count = np.zeros((h + side, w + side), np.int32)
    for (x, y), prob in zip(boxes[:, :2].tolist(), probs):
        total[y:y + side, x:x + side] += prob
        count[y:y + side, x:x + side] += 1
    total, count = total[:h, :w], count[:h, :w]
    return np.where(count > 0, total > 0.5 * count, coarse.astype(bool, copy=False))


def drop_small_parts(refined: np.ndarray, coarse: np.ndarray, area: int) -> np.ndarray:
    """``refined`` without the specks and pinholes under ``area`` px that refining made.

    A foreground part (8-connected) smaller than ``area`` that is mostly background in
    ``coarse`` is removed; a hole (a 4-connected background part) smaller than ``area`` that
    is mostly foreground in ``coarse`` is filled. Parts touching the edge of the arrays are
    kept, as they may go on outside them, and a mask is never emptied. Boundary IoU pays for
    a speck or a pinhole with a ring as wide as its band.
    """
    out = refined.astype(bool, copy=True)
    if area <= 0 or not out.any():
        return out
    coarse = coarse.astype(bool, copy=False)
    # specks (8-connected foreground), then pinholes (4-connected background); label 0 is
    # the other value's pixels. One part alone is never a speck: the mask is not emptied.
    for value, connectivity, fewest in ((True, 8, 3), (False, 4, 2)):
        n, labels = cv2.connectedComponents((out == value).view(np.uint8),
                                            connectivity=connectivity)
        if n < fewest:
            continue
        inner = np.ones(n, bool)
        inner[0] = False
        inner[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
        if not inner.any():  # the common case, checked before counting pixels
            continue
        areas = np.bincount(labels.ravel(), minlength=n)
        small = inner & (areas < area)
        if not small.any():
            continue
        inside = small[labels]
        agree = np.bincount(labels[inside & (coarse == value)], minlength=n)
        small &= agree < 0.5 * areas
        if value and small.sum() == n - 1:
            continue  # every part is a speck: keep them rather than empty the mask
        out[small[labels]] = not value
    return out
