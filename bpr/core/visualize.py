"""Pictures: instance contours on the image, coarse vs refined side by side."""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

COARSE = (0, 200, 255)   # BGR: orange
REFINED = (60, 220, 60)  # green
GT = (255, 120, 0)       # blue
PATCH = (255, 255, 255)


def draw_contours(image: np.ndarray, masks: Sequence[np.ndarray], color, thickness: int = 2):
    """Copy of ``image`` (BGR) with the outer and inner contours of each mask."""
    out = image.copy()
    for m in masks:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, color, thickness, lineType=cv2.LINE_AA)
    return out


def draw_boxes(image: np.ndarray, boxes: np.ndarray, color=PATCH, thickness: int = 1):
    out = image.copy()
    for x1, y1, x2, y2 in np.asarray(boxes, int).reshape(-1, 4):
        cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, thickness)
    return out


def _label(image, text):
    out = image.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def instances_window(masks: Sequence[np.ndarray], margin: int = 20) -> Optional[Tuple[int, ...]]:
    """``(x1, y1, x2, y2)`` around the foreground of ``masks`` plus ``margin`` px, within the
    image; None when they are all empty."""
    if not len(masks):
        return None
    ys, xs = np.nonzero(np.any(np.asarray(masks, bool), axis=0))
    if not len(ys):
        return None
    h, w = masks[0].shape[:2]
    return (max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0),
            min(int(xs.max()) + 1 + margin, w), min(int(ys.max()) + 1 + margin, h))


def side_by_side(image: np.ndarray, coarse: Sequence[np.ndarray],
                 refined: Sequence[np.ndarray], gt: Optional[Sequence[np.ndarray]] = None,
                 boxes: Optional[np.ndarray] = None, thickness: int = 2,
                 window: Optional[Tuple[int, int, int, int]] = None) -> np.ndarray:
    """Left: coarse contours (and the selected patches); right: refined contours.
    Ground-truth contours, if given, are drawn thin on both. ``window`` ``(x1, y1, x2, y2)``
    shows only that part of the image (the labels stay in the corner of each panel)."""
    if window is not None:
        x1, y1, x2, y2 = window
        image = image[y1:y2, x1:x2]
        coarse, refined = ([m[y1:y2, x1:x2] for m in ms] for ms in (coarse, refined))
        gt = None if gt is None else [m[y1:y2, x1:x2] for m in gt]
        if boxes is not None:
            boxes = np.asarray(boxes).reshape(-1, 4) - [x1, y1, x1, y1]
    left = draw_contours(image, coarse, COARSE, thickness)
    if boxes is not None and len(boxes):
        left = draw_boxes(left, boxes)
    right = draw_contours(image, refined, REFINED, thickness)
    if gt is not None:
        left = draw_contours(left, gt, GT, 1)
        right = draw_contours(right, gt, GT, 1)
    gap = np.full((image.shape[0], 8, 3), 255, np.uint8)
    return np.concatenate([_label(left, 'coarse'), gap, _label(right, 'BPR refined')], axis=1)
