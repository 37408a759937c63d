"""Refining the instances of one image in memory: extract, run the network, reassemble."""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .masks import copy_foreground, foreground_box
from .patches import PatchConfig, crop_patches, instance_roi, propose
from .reassemble import drop_small_parts, paste_patches


class InstancePatches(NamedTuple):
    """Where the patches of one instance lie: boxes (N, 4) in image coordinates."""
    boxes: np.ndarray

    @property
    def num(self) -> int:
        return len(self.boxes)

    @property
    def box_size(self) -> int:
        """Side of the boxes (0 when there are none)."""
        return int(self.boxes[0, 2] - self.boxes[0, 0]) if self.num else 0


class PatchGroup(NamedTuple):
    """The patches of one side: image (N, S, S, 3) and coarse mask (N, S, S) uint8."""
    img: np.ndarray
    mask: np.ndarray


def extract_instance(mask: np.ndarray, cfg: PatchConfig) -> InstancePatches:
    """Boundary boxes of one full-size binary mask (none for an empty mask, or one whose
    box is smaller than ``cfg.min_size`` on its longer side), of the side
    :meth:`PatchConfig.instance_box_size` gives for it."""
    box = foreground_box(mask)
    longer = 0 if box is None else max(s.stop - s.start for s in box)
    if box is None or longer < (cfg.min_size or 0):
        return InstancePatches(np.zeros((0, 4), np.int64))
    x1, y1, x2, y2 = instance_roi(mask, margin=1, box=box)
    cfg = cfg.check()._replace(patch_size=cfg.instance_box_size(longer))
    boxes = propose(mask[y1:y2, x1:x2], cfg, offset=(x1, y1), image_size=mask.shape)
    return InstancePatches(boxes)


def extract_image(image: np.ndarray, masks: Sequence[np.ndarray], cfg: PatchConfig
                  ) -> Tuple[List[InstancePatches], Dict[int, PatchGroup]]:
    """Boxes of every instance, and the image and coarse-mask patches of all of them.

    Returns ``(instances, groups)``: ``groups[S]`` holds the patches of side ``S`` (padding
    included), those of instance 0 first, then those of instance 1, and so on. There is one
    side, ``cfg.side``, unless ``cfg.patch_ratio`` grows the boxes of large instances.
    """
    instances = [extract_instance(m, cfg) for m in masks]
    parts = {}
    for m, inst in zip(masks, instances):
        if inst.num:
            # crop first, convert after: a full-size conversion per instance costs more
            # than all of its patches on large images
            parts.setdefault(inst.box_size + 2 * cfg.padding, []).append(PatchGroup(
                crop_patches(image, inst.boxes, cfg.padding),
                crop_patches(m, inst.boxes, cfg.padding).astype(np.uint8)))
    if not parts:
        side = cfg.side
        return instances, {side: PatchGroup(np.zeros((0, side, side, 3), image.dtype),
                                            np.zeros((0, side, side), np.uint8))}
    return instances, {side: PatchGroup(*map(np.concatenate, zip(*group)))
                       for side, group in sorted(parts.items())}


def reassemble_instance(mask: np.ndarray, inst: InstancePatches, probs: Optional[np.ndarray],
                        padding: int, min_part: int = 0) -> np.ndarray:
    """Full-size refined mask of one instance from its patches' probabilities (N, S, S),
    ``None`` when it has no patches; specks and pinholes under ``min_part`` px that refining
    made are then removed (:func:`~bpr.core.reassemble.drop_small_parts`)."""
    if inst.num == 0:
        return copy_foreground(mask)
    h, w = mask.shape
    x1, y1 = np.maximum(inst.boxes[:, :2].min(0), 0)
    x2, y2 = np.minimum(inst.boxes[:, 2:].max(0), (w, h))
    refined = copy_foreground(mask)
    offset = np.array([x1, y1, x1, y1])
    refined[y1:y2, x1:x2] = paste_patches(mask[y1:y2, x1:x2], inst.boxes - offset, probs, padding)
    if min_part:
        # one pixel beyond the patches, so that a part running out of them touches the edge
        win = np.s_[max(y1 - 1, 0):min(y2 + 1, h), max(x1 - 1, 0):min(x2 + 1, w)]
        refined[win] = drop_small_parts(refined[win], mask[win], min_part)
    return refined


def reassemble_image(masks: Sequence[np.ndarray], instances: Sequence[InstancePatches],
                     probs: Dict[int, np.ndarray], padding: int, min_part: int = 0
                     ) -> List[np.ndarray]:
    """Refined masks of an image; ``probs[S]`` holds the probabilities (N, S, S) of the
    patches of :func:`extract_image`'s ``groups[S]``, in the same order."""
    offsets = dict.fromkeys(probs, 0)
    refined = []
    for mask, inst in zip(masks, instances):
        part = None
        if inst.num:
            side = inst.box_size + 2 * padding
            start = offsets[side]
            offsets[side] += inst.num
            part = probs[side][start:start + inst.num]
        refined.append(reassemble_instance(mask, inst, part, padding, min_part))
    return refined
