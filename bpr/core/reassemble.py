"""Pasting refined patch probabilities back into an instance mask."""
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
