"""Refining the instances of one image in memory: extract, run the network, reassemble."""
from typing import List, NamedTuple, Sequence

import numpy as np

from .masks import foreground_box
from .patches import PatchConfig, crop_patches, instance_roi, propose
from .reassemble import drop_small_parts, paste_patches


class InstancePatches(NamedTuple):
    """Where the patches of one instance lie: boxes (N, 4) in image coordinates."""
    boxes: np.ndarray

    @property
    def num(self) -> int:
        return len(self.boxes)


def extract_instance(mask: np.ndarray, cfg: PatchConfig) -> InstancePatches:
    """Boundary boxes of one full-size binary mask (none for an empty mask, or one whose
    box is smaller than ``cfg.min_size`` on its longer side)."""
    box = foreground_box(mask)
    if box is None or max(s.stop - s.start for s in box) < (cfg.min_size or 0):
        return InstancePatches(np.zeros((0, 4), np.int64))
    x1, y1, x2, y2 = instance_roi(mask, margin=1, box=box)
    boxes = propose(mask[y1:y2, x1:x2], cfg, offset=(x1, y1), image_size=mask.shape)
    return InstancePatches(boxes)


def extract_image(image: np.ndarray, masks: Sequence[np.ndarray], cfg: PatchConfig):
    """Boxes of every instance, and the image and coarse-mask patches of all of them.

    Returns ``(instances, img_patches (N, S, S, 3) uint8, mask_patches (N, S, S) uint8)`` with
    the patches of instance 0 first, then those of instance 1, and so on.
    """
    instances = [extract_instance(m, cfg) for m in masks]
    boxes = [inst.boxes for inst in instances]
    img_patches = [crop_patches(image, b, cfg.padding) for b in boxes]
    # crop first, convert after: a full-size conversion per instance costs more than all
    # of its patches on large images
    mask_patches = [crop_patches(m, b, cfg.padding).astype(np.uint8)
                    for m, b in zip(masks, boxes)]
    side = cfg.side
    def cat(parts, shape, dtype):
        parts = [p for p in parts if len(p)]
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    return (instances, cat(img_patches, (0, side, side, 3), image.dtype),
            cat(mask_patches, (0, side, side), np.uint8))


def reassemble_instance(mask: np.ndarray, inst: InstancePatches, probs: np.ndarray,
                        padding: int, min_part: int = 0) -> np.ndarray:
    """Full-size refined mask of one instance from its patches' probabilities (N, S, S);
    specks and pinholes under ``min_part`` px that refining made are then removed
    (:func:`~bpr.core.reassemble.drop_small_parts`)."""
    if inst.num == 0:
        return mask.astype(bool, copy=True)
    h, w = mask.shape
    x1, y1 = np.maximum(inst.boxes[:, :2].min(0), 0)
    x2, y2 = np.minimum(inst.boxes[:, 2:].max(0), (w, h))
    refined = mask.astype(bool, copy=True)
    offset = np.array([x1, y1, x1, y1])
    refined[y1:y2, x1:x2] = paste_patches(mask[y1:y2, x1:x2], inst.boxes - offset, probs, padding)
    if min_part:
        # one pixel beyond the patches, so that a part running out of them touches the edge
        win = np.s_[max(y1 - 1, 0):min(y2 + 1, h), max(x1 - 1, 0):min(x2 + 1, w)]
        refined[win] = drop_small_parts(refined[win], mask[win], min_part)
    return refined


def reassemble_image(masks: Sequence[np.ndarray], instances: Sequence[InstancePatches],
                     probs: np.ndarray, padding: int, min_part: int = 0) -> List[np.ndarray]:
    """Refined masks of an image; ``probs`` holds the patches in :func:`extract_image` order."""
    bounds = np.cumsum([0] + [inst.num for inst in instances])
    return [reassemble_instance(m, inst, probs[a:b], padding, min_part)
            for m, inst, a, b in zip(masks, instances, bounds[:-1], bounds[1:])]
