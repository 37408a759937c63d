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
    # C order: the boolean assignment below must land in this array (RLEs decode in F order)
    refined = np.array(coarse, dtype=bool, order='C')
    if len(boxes) == 0:
        return refined
    h, w = coarse.shape
    side = probs.shape[1] - 2 * padding
    probs = probs[:, padding:padding + side, padding:padding + side]
    # Accumulate on a canvas grown by one patch so that boxes running past the bottom/right
    # edge (images smaller than a patch) need no clipping: one scatter-add for all patches.
    cw = w + side
    offsets = (np.arange(side)[:, None] * cw + np.arange(side)[None, :]).ravel()
    flat = ((boxes[:, 1] * cw + boxes[:, 0])[:, None] + offsets[None, :]).ravel()
    size = (h + side) * cw
    total = np.bincount(flat, weights=probs.reshape(-1), minlength=size)
    count = np.bincount(flat, minlength=size)
    total = total.reshape(h + side, cw)[:h, :w]
    count = count.reshape(h + side, cw)[:h, :w]
    covered = count > 0
    refined[covered] = total[covered] > 0.5 * count[covered]
    return refined
