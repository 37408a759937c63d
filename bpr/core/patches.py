"""Boundary patches of one instance: score map, dense proposals, NMS, crops.

Coordinates are integer pixels. A box ``(x1, y1, x2, y2)`` covers columns ``x1 .. x2 - 1``; a
patch is the box grown by ``padding`` on every side. Masks are handled inside a region of
interest (ROI) around the instance, never at full image size.
"""
import numbers
from typing import Callable, NamedTuple, Optional, Tuple, Union

import cv2
import numpy as np
from mmcv.ops import nms

from .io import arg_type
from .masks import foreground_box


SAMPLINGS = ('nms', 'nms_stable', 'grid')
IOU_THRESH = 0.25  # NMS IoU threshold of the boundary boxes when neither user nor model sets one
PATCH_SIZE = 64  # side of the boundary boxes when neither user nor model sets one (the paper's)
SAMPLING_HELP = ("patch boxes: dense + NMS as the original BPR (nms), the same with ties broken "
                 "in row-major order (nms_stable), or the regular grid (ablation)")


def _is_int(value) -> bool:  # NumPy integers too; a bool is no size
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


# the settings of PatchConfig that a model may carry (None takes the model's own): those that
# decide the boxes, and the clean-up after pasting
BOX_SETTINGS = ('min_size', 'iou_thresh', 'patch_size', 'patch_ratio')
PATCH_SETTINGS = BOX_SETTINGS + ('min_part',)
# what each setting of PatchConfig accepts (besides None for those of PATCH_SETTINGS)
SETTING_RULES = {
    'patch_size': (lambda v: _is_int(v) and v >= 2, 'an integer >= 2'),
    'padding': (lambda v: _is_int(v) and v >= 0, 'an integer >= 0'),
    'iou_thresh': (lambda v: _is_number(v) and 0 < v <= 1, 'a number in (0, 1]'),
    'min_size': (lambda v: _is_int(v) and v >= 0, 'an integer >= 0'),
    'min_part': (lambda v: _is_int(v) and v >= 0, 'an integer >= 0'),
    'patch_ratio': (lambda v: _is_number(v) and 0 <= v <= 1, 'a number in [0, 1]'),
}


def setting_problem(name: str, value) -> Optional[str]:
    """``'expected ...'`` when ``value`` is not a valid ``name`` setting, else ``None``."""
    ok, expected = SETTING_RULES[name]
    return None if ok(value) else f'expected {expected}'


def setting_arg(name: str) -> Callable[[str], Union[int, float]]:
    """An argparse ``type`` for the command-line option of setting ``name``: a bad value is
    the tool's usage error, before any work."""
    return arg_type(float if name in ('iou_thresh', 'patch_ratio') else int,
                    lambda v: setting_problem(name, v) is None, SETTING_RULES[name][1])


class PatchConfig(NamedTuple):
    """How patches are chosen (box side, context padding, NMS IoU threshold, sampling) and
    which instances and parts are refined.

    ``sampling='nms'`` is BPR's: a dense box on every boundary pixel, then mmcv's NMS op fed
    the boundary scores in row-major order, exactly as the original release (the op's sort
    orders the many tied scores). ``'nms_stable'`` breaks those ties by row-major order
    instead (the same greedy NMS, 13-18% more patches on real photographs; see
    docs/patches.md). ``'grid'`` takes the cells of a regular ``patch_size`` grid that the
    boundary crosses (the paper's ablation; ``iou_thresh`` is then unused).

    ``min_size``: instances whose bounding box is smaller than this on its longer side get no
    patches and keep their coarse mask: a mask head's output (28x28 for Mask R-CNN) is near
    full resolution for such objects, and a network that has not learnt them makes them worse
    (docs/benchmarks.md). ``0`` refines every instance, as the original; ``None`` (default)
    takes the model's own value (``min_size`` in its checkpoint's meta, else 0).

    ``iou_thresh`` and ``patch_size``: ``None`` (default) likewise takes the model's own value
    (in its checkpoint's meta), else :data:`IOU_THRESH`, the original's COCO setting, and
    :data:`PATCH_SIZE`, the paper's.

    ``min_part``: after pasting, specks and pinholes under this many pixels that refining made
    are removed (:func:`~bpr.core.reassemble.drop_small_parts`); ``0`` pastes as the
    original; ``None`` (default) takes the model's own value, else 0.

    ``patch_ratio``: the boxes of an instance are at least this fraction of its box's longer
    side (rounded to 8 px), and never smaller than ``patch_size``: boxes that grow with the
    objects, for photographs of higher resolution than a model was tuned on (the errors of
    a 28x28 mask grow with the object). ``0`` keeps every box at ``patch_size``, as the
    original; ``None`` (default) takes the model's own value, else 0.
    """
    patch_size: Optional[int] = None
    padding: int = 0
    iou_thresh: Optional[float] = None
    sampling: str = 'nms'
    min_size: Optional[int] = None
    min_part: Optional[int] = None
    patch_ratio: Optional[float] = None

    def check(self) -> 'PatchConfig':
        """``self``; ``ValueError`` naming the first setting out of range."""
        for name in SETTING_RULES:
            value = getattr(self, name)
            if value is None and name in PATCH_SETTINGS:
                continue
            if problem := setting_problem(name, value):
                raise ValueError(f'patch {name} {value!r}: {problem}')
        if self.sampling not in SAMPLINGS:
            raise ValueError(f'patch sampling {self.sampling!r}: expected one of {SAMPLINGS}')
        return self

    @property
    def box_size(self) -> int:
        """Side of a boundary box: ``patch_size``, else :data:`PATCH_SIZE`."""
        return PATCH_SIZE if self.patch_size is None else self.patch_size

    @property
    def side(self) -> int:
        """Side of a cropped patch of :attr:`box_size`, padding included."""
        return self.box_size + 2 * self.padding

    def instance_box_size(self, longer_side: int) -> int:
        """Side of the boxes of an instance whose box is ``longer_side`` px on its longer
        side: :attr:`box_size`, or ``patch_ratio`` of ``longer_side`` (a multiple of 8 px)
        when that is larger."""
        grown = int((self.patch_ratio or 0) * longer_side / 8 + 0.5) * 8
        return max(self.box_size, grown)


def boundary_score(mask: np.ndarray) -> np.ndarray:
    """Score map of a binary mask: ``min(|s - 9|, s) / 4.5`` with ``s`` its 3x3 box sum.

    Non-zero exactly where the 3x3 window (zero padding outside) holds both foreground and
    background: both sides of the boundary, and foreground pixels on the array border.
    """
    s = cv2.boxFilter(mask.astype(np.float32), -1, (3, 3), normalize=False,
                      borderType=cv2.BORDER_CONSTANT)
    return np.minimum(9.0 - s, s) / 4.5


def dense_boxes(score: np.ndarray, patch_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """One box of side ``patch_size`` centred on every pixel of non-zero score.

    Returns boxes (N, 4) int64 as ``(x - p/2, y - p/2, x + p/2, y + p/2)`` and their scores,
    in row-major pixel order.
    """
    ys, xs = np.nonzero(score > 0)
    half = patch_size // 2
    x1, y1 = xs - half, ys - half
    boxes = np.stack([x1, y1, x1 + patch_size, y1 + patch_size], axis=1).astype(np.int64)
    return boxes, score[ys, xs].astype(np.float32)


def nms_boxes(boxes: np.ndarray, scores: np.ndarray, iou_thresh: float,
              stable: bool = False) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS (mmcv's op), highest score first.

    By default the op gets ``scores`` as they are, so tied scores are visited in the order
    its (unstable) sort leaves them: the original BPR's selection. ``stable=True`` visits
    ties by index instead, whatever sort the op uses.
    """
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    if not stable:
        _, keep = nms(np.ascontiguousarray(boxes, np.float32),
                      np.ascontiguousarray(scores, np.float32), iou_thresh)
        return keep.astype(np.int64)
    order = np.argsort(-scores, kind='stable')
    # strictly decreasing stand-in scores carry the stable order through the op
    ranks = np.arange(len(order), 0, -1, dtype=np.float32)
    _, keep = nms(boxes[order].astype(np.float32), ranks, iou_thresh)
    return order[keep.astype(np.int64)]


def grid_boxes(score: np.ndarray, patch_size: int, offset=(0, 0)) -> np.ndarray:
    """Cells (N, 4) of the image's ``patch_size`` grid holding a pixel of non-zero score.

    ``score`` may be an ROI with top-left ``offset`` ``(x, y)``; the grid is anchored at the
    image origin. Cells come in row-major order.
    """
    ys, xs = np.nonzero(score > 0)
    cells = np.unique(np.stack([(ys + offset[1]) // patch_size,
                                (xs + offset[0]) // patch_size], axis=1), axis=0)
    start = cells[:, ::-1].astype(np.int64) * patch_size
    return np.concatenate([start, start + patch_size], axis=1).reshape(-1, 4)


def move_inside(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Shift boxes (keeping their size) so that they lie inside a ``height x width`` image.

    A box larger than the image is put at the top-left corner; the part outside is padding.
    """
    boxes = boxes.copy()
    size = boxes[:, 2:] - boxes[:, :2]
    start = np.clip(boxes[:, :2], 0, np.maximum(np.array([width, height]) - size, 0))
    boxes[:, :2] = start
    boxes[:, 2:] = start + size
    return boxes


def propose(mask: np.ndarray, cfg: PatchConfig, offset=(0, 0), image_size=None) -> np.ndarray:
    """Boxes (N, 4) in image coordinates along the boundary of ``mask``.

    ``mask`` may be an ROI of a larger image: ``offset`` is its top-left ``(x, y)`` in the image
    and ``image_size`` the image's ``(h, w)``. The ROI must hold a 1-pixel margin of the image
    around the instance wherever the image has one, so that the score map is that of the image.
    """
    h, w = image_size if image_size is not None else mask.shape
    cfg.check()
    if cfg.sampling == 'grid':
        return move_inside(grid_boxes(boundary_score(mask), cfg.box_size, offset), h, w)
    boxes, scores = dense_boxes(boundary_score(mask), cfg.box_size)
    boxes[:, [0, 2]] += offset[0]
    boxes[:, [1, 3]] += offset[1]
    iou_thresh = IOU_THRESH if cfg.iou_thresh is None else cfg.iou_thresh
    keep = nms_boxes(boxes, scores, iou_thresh, stable=cfg.sampling == 'nms_stable')
    return move_inside(boxes[keep], h, w)


def instance_roi(mask: np.ndarray, margin: int = 1, box=None) -> Tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` of the mask's foreground grown by ``margin``, clipped to the image.

    An empty mask gives an empty ROI. ``box``: the mask's :func:`foreground_box`, if known.
    """
    box = foreground_box(mask) if box is None else box
    if box is None:
        return 0, 0, 0, 0
    rows, cols = box
    height, width = mask.shape
    return (max(cols.start - margin, 0), max(rows.start - margin, 0),
            min(cols.stop + margin, width), min(rows.stop + margin, height))


def crop_padded(array: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """``array[y1:y2, x1:x2]`` with zeros wherever the window leaves the array."""
    h, w = array.shape[:2]
    out = np.zeros((y2 - y1, x2 - x1) + array.shape[2:], array.dtype)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = array[sy1:sy2, sx1:sx2]
    return out


def crop_patches(array: np.ndarray, boxes: np.ndarray, padding: int) -> np.ndarray:
    """Patches (N, S, S, ...) of ``array`` for boxes (N, 4), grown by ``padding``, zero-padded.

    One crop of the boxes' union and a strided view of it: no copy per patch besides the
    final gather.
    """
    if len(boxes) == 0:
        side = 2 * padding
        return np.zeros((0, side, side) + array.shape[2:], array.dtype)
    side = int(boxes[0, 2] - boxes[0, 0]) + 2 * padding
    x0, y0 = boxes[:, 0].min() - padding, boxes[:, 1].min() - padding
    x3, y3 = boxes[:, 0].max() - padding + side, boxes[:, 1].max() - padding + side
    region = crop_padded(array, x0, y0, x3, y3)
    windows = np.lib.stride_tricks.sliding_window_view(region, (side, side), axis=(0, 1))
    patches = windows[boxes[:, 1] - padding - y0, boxes[:, 0] - padding - x0]
    # sliding_window_view puts the window axes last
    return np.ascontiguousarray(np.moveaxis(patches, (-2, -1), (1, 2)))
