"""Python API: build a refiner, refine the instances of one image."""
import copy
import os.path as osp
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.cnn.utils import revert_sync_batchnorm
from mmcv.runner import load_checkpoint
from mmseg.models import build_segmentor

from ..core import PatchConfig, decode, encode, extract_image, reassemble_image

PROJECT_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(PROJECT_ROOT, 'configs', 'bpr', 'hrnet18s_128.py')
DEFAULT_CHECKPOINT = osp.join(PROJECT_ROOT, 'checkpoints', 'bpr_hrnet18s_128_default.pth')


def default_device() -> str:
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def init_refiner(config: Union[str, mmcv.Config] = DEFAULT_CONFIG,
                 checkpoint: Optional[str] = None,
                 device: Optional[str] = None) -> torch.nn.Module:
    """Build the refinement network from a config and load a checkpoint.

    Args:
        config: Config file or object (default: ``configs/bpr/hrnet18s_128.py``).
        checkpoint: Checkpoint file. ``None`` takes the project's default model when the
            config is the default one, otherwise keeps the random initialisation (with a
            warning). ``'none'`` always keeps the random initialisation.
        device: ``'cuda'``, ``'cuda:1'``, ``'cpu'``...; default: CUDA if available.
    """
    cfg = mmcv.Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if checkpoint is None and isinstance(config, str) and osp.samefile(config, DEFAULT_CONFIG) \
            and osp.isfile(DEFAULT_CHECKPOINT):
        checkpoint = DEFAULT_CHECKPOINT
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    model = build_segmentor(cfg.model, test_cfg=cfg.get('test_cfg'))
    model = revert_sync_batchnorm(model)
    if checkpoint is None or checkpoint == 'none':
        if checkpoint is None:
            warnings.warn('init_refiner: no checkpoint, the network is randomly initialised')
    else:
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                               revise_keys=[(r'^module\.', '')])
        model.CLASSES = ckpt.get('meta', {}).get('CLASSES', ('background', 'foreground'))
    model.cfg = cfg
    model.to(device or default_device())
    model.eval()
    return model


def network_input(cfg: mmcv.Config) -> Tuple[Tuple[int, int], dict]:
    """Network input size ``(w, h)`` and ``img_norm_cfg`` of a refiner config's test pipeline."""
    size, norm = None, None
    steps = list(cfg.data.test.pipeline)
    while steps:
        step = steps.pop(0)
        if step['type'] == 'MultiScaleFlipAug':
            size = size or step['img_scale']
            steps = list(step['transforms']) + steps
        elif step['type'] == 'Resize' and step.get('img_scale'):
            size = step['img_scale']
        elif step['type'] == 'Normalize':
            norm = step
    if size is None or norm is None:
        raise ValueError('config: the test pipeline needs a Resize size and a Normalize step')
    if isinstance(size, list) and isinstance(size[0], (tuple, list)):
        size = size[0]
    return tuple(size), norm


@torch.no_grad()
def run_patches(model: torch.nn.Module, img_patches: np.ndarray, mask_patches: np.ndarray,
                batch_size: int = 256) -> np.ndarray:
    """Foreground probabilities (N, S, S) float32 of patches at their own resolution.

    ``img_patches`` (N, S, S, 3) uint8 in BGR order (as read by mmcv/OpenCV), ``mask_patches``
    (N, S, S) binary. Same preprocessing as the test pipeline: bilinear resize of the image
    to the network size, RGB + ImageNet normalisation, nearest resize of the mask to {-1, 1}.
    """
    n, side = len(img_patches), img_patches.shape[1] if len(img_patches) else 0
    if n == 0:
        return np.zeros((0, side, side), np.float32)
    (w, h), norm = network_input(model.cfg)
    device = next(model.parameters()).device
    mean = torch.tensor(norm['mean'], device=device).view(1, 3, 1, 1)
    std = torch.tensor(norm['std'], device=device).view(1, 3, 1, 1)
    meta = [dict(img_shape=(h, w, 3), ori_shape=(side, side, 3), flip=False)]
    out = np.empty((n, side, side), np.float32)
    for start in range(0, n, batch_size):
        img = torch.from_numpy(img_patches[start:start + batch_size]).to(device)
        img = img.permute(0, 3, 1, 2).float()
        if norm.get('to_rgb', True):
            img = img.flip(1)
        img = F.interpolate(img, size=(h, w), mode='bilinear', align_corners=False)
        img = (img - mean) / std
        mask = torch.from_numpy(mask_patches[start:start + batch_size]).to(device)
        mask = mask[:, None].float() * 2 - 1
        mask = F.interpolate(mask, size=(h, w), mode='nearest')
        prob = model.inference(img, meta * len(img), rescale=True, coarse_mask=mask)
        out[start:start + len(img)] = prob[:, -1].cpu().numpy()
    return out


def refine_masks(model: torch.nn.Module, image: np.ndarray, masks: Sequence[np.ndarray],
                 cfg: PatchConfig = PatchConfig(), batch_size: int = 256) -> List[np.ndarray]:
    """Refined (H, W) bool masks of one BGR image, in the order of ``masks``."""
    instances, img_patches, mask_patches = extract_image(image, masks, cfg)
    probs = run_patches(model, img_patches, mask_patches, batch_size)
    return reassemble_image(masks, instances, probs, cfg.padding)


def _read_image(image: Union[str, np.ndarray]) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'image: expected an HxWx3 array, got shape {image.shape}')
        return image
    if not osp.isfile(image):
        raise FileNotFoundError(f'image {image}: no such file')
    img = mmcv.imread(image, 'color')
    if img is None:
        raise ValueError(f'image {image}: not a readable image')
    return img


def refine(model: torch.nn.Module, image: Union[str, np.ndarray], masks,
           iou_thresh: float = 0.25, patch_size: int = 64, padding: int = 0,
           batch_size: int = 256):
    """Refine the instance masks of one image.

    Args:
        model: From :func:`init_refiner`.
        image: Path, or (H, W, 3) uint8 array in BGR order like ``mmcv.imread`` gives.
        masks: (N, H, W) boolean array, list of RLE dicts, or list of COCO result dicts
            (with ``segmentation``).
        iou_thresh: NMS IoU threshold of the boundary boxes (larger: more patches).
        patch_size, padding: Box side and context padding, in image pixels.
        batch_size: Patches per forward pass.

    Returns:
        The refined masks in the form and order they came in; COCO dicts keep their other
        fields.
    """
    img = _read_image(image)
    h, w = img.shape[:2]
    cfg = PatchConfig(patch_size, padding, iou_thresh)
    if isinstance(masks, np.ndarray):
        if masks.ndim != 3 or masks.shape[1:] != (h, w):
            raise ValueError(f'masks: expected shape (N, {h}, {w}), got {masks.shape}')
        refined = refine_masks(model, img, list(masks.astype(bool)), cfg, batch_size)
        return np.stack(refined) if refined else np.zeros((0, h, w), bool)
    masks = list(masks)
    segms = [m['segmentation'] if 'segmentation' in m else m for m in masks]
    binary = [decode(s, h, w, where=f'masks[{i}]') for i, s in enumerate(segms)]
    rles = [encode(m) for m in refine_masks(model, img, binary, cfg, batch_size)]
    return [dict(m, segmentation=r) if 'segmentation' in m else r for m, r in zip(masks, rles)]
