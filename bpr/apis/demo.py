"""One image in, refined masks and a picture out: the demo script and notebook."""
import os.path as osp
from typing import List, Optional, Sequence

import mmcv
import numpy as np

from ..core import PatchConfig, decode, extract_instance
from ..core.io import InputError, check_output, load_json, read_image
from ..core.visualize import side_by_side
from .inference import PROJECT_ROOT, for_model, init_refiner, refine

EXAMPLE_MASKS = osp.join(PROJECT_ROOT, 'demo', 'data', 'astronaut_coarse.json')


def example_image() -> np.ndarray:
    """The embedded example photograph (BGR): NASA's portrait of Eileen Collins (public
    domain), as shipped by scikit-image."""
    from skimage import data
    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def load_masks(paths: Sequence[str], height: int, width: int) -> np.ndarray:
    """Masks (N, H, W) bool from PNG files (a binary mask, or a label map with one instance per
    non-zero value), an NPY array ((N, H, W) or (H, W)), or a COCO JSON (a list of results or
    ``{"instances": [...]}``, RLE or polygons)."""
    masks = []
    for path in paths:
        if not osp.isfile(path):
            raise InputError(f'{path}: mask file not found')
        ext = osp.splitext(path)[1].lower()
        if ext == '.json':
            data = load_json(path, 'masks')
            items = data.get('instances') if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise InputError(f'{path}: expected a list of instances')
            ms = [decode(it.get('segmentation', it), height, width, where=f'{path} [{i}]')
                  for i, it in enumerate(items)]
        elif ext == '.npy':
            arr = np.load(path, allow_pickle=False)
            arr = arr[None] if arr.ndim == 2 else arr
            if arr.ndim != 3:
                raise InputError(f'{path}: expected an (N, H, W) or (H, W) array')
            ms = list(arr.astype(bool))
        else:
            arr = read_image(path, 'unchanged')
            arr = arr if arr.ndim == 2 else arr.max(axis=2)
            labels = [v for v in np.unique(arr) if v != 0]
            ms = [arr > 0] if len(labels) <= 1 else [arr == v for v in labels]
        for m in ms:
            if m.shape != (height, width):
                raise InputError(f'{path}: mask of size {m.shape[1]}x{m.shape[0]}, image is '
                                 f'{width}x{height}')
        masks.extend(ms)
    if not masks:
        raise InputError(f'{", ".join(paths) or "masks"}: no instance masks given')
    return np.stack(masks)


def run_demo(img: Optional[str] = None, masks: Optional[List[str]] = None,
             config: Optional[str] = None, checkpoint: Optional[str] = None,
             out: str = 'demo/outputs/refined.png', device: Optional[str] = None,
             cfg: PatchConfig = PatchConfig(), model=None, flip: Optional[bool] = None):
    """Refine ``masks`` of ``img`` (default: the embedded example) and write the picture.

    ``checkpoint`` defaults to the project's model, with ``config`` too (``'none'``: random
    weights). Returns ``(image, coarse masks, refined masks, picture)``.
    """
    if img is None:
        image = example_image()
        masks = masks or [EXAMPLE_MASKS]
    else:
        image = read_image(img)
    if not masks:
        raise InputError('no masks given (--masks)')
    if out:
        check_output(out, [img, *masks])
    coarse = load_masks(masks, *image.shape[:2])
    if model is None:
        from .inference import DEFAULT_CONFIG
        model = init_refiner(config or DEFAULT_CONFIG, checkpoint or 'default', device, flip=flip)
    cfg = for_model(cfg, model)
    refined = refine(model, image, coarse, cfg.iou_thresh, cfg.patch_size, cfg.padding,
                     min_size=cfg.min_size, min_part=cfg.min_part, patch_ratio=cfg.patch_ratio)
    boxes = np.concatenate([extract_instance(m, cfg).boxes for m in coarse])
    picture = side_by_side(image, coarse, refined, boxes=boxes)
    if out:
        mmcv.imwrite(picture, out)
    return image, coarse, refined, picture
