"""Python API: build a refiner, refine the instances of one image."""
import argparse
import copy
import os.path as osp
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.cnn.utils import revert_sync_batchnorm
from mmseg.datasets.builder import PIPELINES
from mmseg.models import build_segmentor

from ..core import PatchConfig, PatchGroup, decode, encode, extract_image, reassemble_image
from ..core.checkpoint import load_file, load_weights
from ..core.io import InputError, read_image
from ..core.patches import (IOU_THRESH, PATCH_SETTINGS, PATCH_SIZE, SETTING_RULES, setting_arg,
                           setting_problem)
from ..datasets.transforms import nearest_indices
from ..models import fuse_conv_bn

PROJECT_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(PROJECT_ROOT, 'configs', 'bpr', 'hrnet18s_128.py')
DEFAULT_CHECKPOINT = osp.join(PROJECT_ROOT, 'checkpoints', 'bpr_hrnet18s_128_default.pth')
# test-pipeline steps that give the network's input size
RESIZE_STEPS = ('Resize', 'ResizeExact')
PRECISIONS = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def default_device() -> str:
    return 'cuda' if torch.cuda.is_available() else 'cpu'


def check_device(device: Union[str, torch.device]) -> torch.device:
    """``device`` as a :class:`torch.device`, or :class:`InputError` (a ``ValueError``) in one
    line if it is not one or is a CUDA device this machine lacks (rather than torch's error on
    first use)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f'device {device!r}: not a device (cpu, cuda, cuda:N)') from None
    if dev.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f'device {device!r}: no CUDA GPU is available here (use cpu)')
        if (dev.index or 0) >= count:
            raise InputError(f'device {device!r}: this machine has {count} CUDA GPU(s)')
    return dev


def device_arg(text: str) -> str:
    """An argparse ``type`` for ``--device``: checked by :func:`check_device` before any
    work."""
    try:
        check_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def checkpoint_file(checkpoint: Optional[str]) -> Optional[str]:
    """The file of a checkpoint argument: ``'default'`` names the project's model."""
    return DEFAULT_CHECKPOINT if checkpoint == 'default' else checkpoint


def default_batch_size(device: Union[str, torch.device]) -> int:
    """Patches per forward pass: 256 on a GPU; 16 on the CPU, where the activations of a
    small batch stay in the cache (hrnet18s_128 on 2 cores: 1.2-1.3x faster per patch than
    256, see docs/benchmarks.md)."""
    return 256 if torch.device(device).type == 'cuda' else 16


def init_refiner(config: Union[str, mmcv.Config] = DEFAULT_CONFIG,
                 checkpoint: Optional[str] = None,
                 device: Optional[str] = None,
                 cfg_options: Optional[dict] = None,
                 fuse: bool = True,
                 precision: str = 'fp32',
                 flip: Optional[bool] = None) -> torch.nn.Module:
    """Build the refinement network from a config and load a checkpoint.

    Args:
        config: Config file or object (default: ``configs/bpr/hrnet18s_128.py``).
        checkpoint: Checkpoint file, or ``'default'``: the project's default model, with any
            config whose network it fits. ``None`` takes the default model when the config
            is the default one, otherwise keeps the random initialisation (with a warning).
            ``'none'`` always keeps the random initialisation.
        device: ``'cuda'``, ``'cuda:1'``, ``'cpu'``...; default: CUDA if available.
        cfg_options: Config overrides as ``--cfg-options`` gives them, e.g.
            ``{'data.test.pipeline.2.flip': True}`` for flip test-time augmentation.
        fuse: Prepare the network for inference only: BatchNorm folded into the convolutions
            and, on CPU, channels-last memory (the same output up to float rounding; 1.2-1.3x
            faster end to end on CPU for hrnet18s_128, see docs/benchmarks.md). ``False``
            keeps the model as built, e.g. to train it further or to save its ``state_dict``.
        precision: Arithmetic of the network: ``'fp32'``, ``'bf16'`` (about 2x faster on CPUs
            with native bfloat16, e.g. AVX512-BF16 or AMX, and much slower on others) or
            ``'fp16'`` (CUDA). Patch probabilities then differ by up to about 0.01-0.05.
        flip: Horizontal-flip test-time augmentation of the patches (twice the network
            work). ``None``: as the checkpoint's meta says (``flip``), else as the config.

    The checkpoint's meta may also give the model's own ``min_size``, ``iou_thresh``,
    ``patch_size``, ``patch_ratio`` and ``min_part``: the defaults of :func:`refine` (see
    :func:`for_model`).
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision: expected one of {sorted(PRECISIONS)}, got {precision!r}')
    device = check_device(device or default_device())
    cfg = mmcv.Config.fromfile(config) if isinstance(config, str) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    checkpoint = checkpoint_file(checkpoint)
    if checkpoint is None and isinstance(config, str) and osp.isfile(DEFAULT_CHECKPOINT) \
            and osp.samefile(config, DEFAULT_CONFIG):
        checkpoint = DEFAULT_CHECKPOINT
    cfg.model.pretrained = None
    cfg.model.train_cfg = None
    model = build_segmentor(cfg.model, test_cfg=cfg.get('test_cfg'))
    model = revert_sync_batchnorm(model)
    own = ReleaseSettings()
    if checkpoint is None or checkpoint == 'none':
        if checkpoint is None:
            warnings.warn('init_refiner: no checkpoint, the network is randomly initialised')
    else:
        ckpt = load_weights(model, checkpoint)
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        model.CLASSES = meta.get('CLASSES', ('background', 'foreground'))
        # the test settings this model was released with (measured, in its model card)
        own = test_settings(meta, checkpoint)
    for key in PATCH_SETTINGS:
        setattr(model, key, getattr(own, key))
    if own.flip is not None:  # the checkpoint's flip, under the caller's config options
        set_test_flip(cfg, own.flip)
        cfg.merge_from_dict(cfg_options or {})
    if flip is not None:
        set_test_flip(cfg, flip)
    model.cfg = cfg
    model.to(device)
    model.eval()
    if fuse:
        fuse_conv_bn(model)
        if device.type == 'cpu':  # oneDNN convolutions run faster on NHWC tensors
            model.to(memory_format=torch.channels_last)
    return model.to(PRECISIONS[precision])


class ReleaseSettings(NamedTuple):
    """The test settings a checkpoint was released with (its meta), defaults when none."""
    min_size: int = 0
    iou_thresh: float = IOU_THRESH
    flip: Optional[bool] = None
    patch_size: int = PATCH_SIZE
    min_part: int = 0
    patch_ratio: float = 0


def test_settings(meta: dict, checkpoint: str) -> ReleaseSettings:
    """The :class:`ReleaseSettings` of a checkpoint's meta; :class:`InputError` naming the file
    when one is not a valid value."""
    own = ReleaseSettings(**{k: meta.get(k, d)
                             for k, d in ReleaseSettings._field_defaults.items()})
    for key, value in own._asdict().items():
        problem = (setting_problem(key, value) if key in SETTING_RULES else
                   None if value in (None, True, False) else 'expected true or false')
        if problem:
            raise InputError(f'{checkpoint}: invalid test setting in its meta: '
                             f'{key} {value!r} ({problem})')
    return own._replace(iou_thresh=float(own.iou_thresh), patch_ratio=float(own.patch_ratio))


def checkpoint_settings(checkpoint: str) -> ReleaseSettings:
    """The :class:`ReleaseSettings` of a checkpoint file, read without building the model:
    ``'default'`` is the project's model, ``'none'`` the defaults of an unreleased one."""
    if checkpoint == 'none':
        return ReleaseSettings()
    path = checkpoint_file(checkpoint)
    ckpt = load_file(path, map_location='cpu')
    return test_settings(ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}, path)


def set_test_flip(cfg: mmcv.Config, flip: bool) -> None:
    """Turn the flip of the test pipeline's ``MultiScaleFlipAug`` on or off."""
    steps = [s for s in cfg.data.test.pipeline if s['type'] == 'MultiScaleFlipAug']
    if flip and not steps:
        raise ValueError('config: flip needs a MultiScaleFlipAug step in data.test.pipeline')
    for step in steps:
        step['flip'] = flip


class PatchViews(NamedTuple):
    """Test-time views of a patch, as the config's test pipeline defines them.

    ``sizes``: network input sizes ``(w, h)``, one per scale; ``flips``: ``(direction,
    weight)`` pairs, direction ``None`` (as is), ``'horizontal'`` or ``'vertical'``;
    ``norm``: the ``Normalize`` step. The weighted mean of the views' probabilities is what
    mmseg's ``aug_test`` computes (``MultiScaleFlipAug`` repeats the unflipped view once per
    flip direction).
    """
    sizes: List[Tuple[int, int]]
    flips: List[Tuple[Optional[str], int]]
    norm: dict


def patch_views(cfg: mmcv.Config) -> PatchViews:
    """The :class:`PatchViews` of a refiner config's ``data.test.pipeline``.

    Follows mmseg's ``MultiScaleFlipAug`` (``img_scale``, ``img_ratios``, ``flip``,
    ``flip_direction``), or a plain ``Resize`` step without it.
    """
    sizes, flips, norm = None, [(None, 1)], None
    steps = list(cfg.data.test.pipeline)
    while steps:
        step = steps.pop(0)
        if step['type'] == 'MultiScaleFlipAug':
            aug = PIPELINES.build(step)
            if aug.img_scale is None:
                raise ValueError('config: MultiScaleFlipAug needs img_scale for patches')
            sizes = [tuple(s) for s in aug.img_scale]
            if aug.flip:
                dirs = list(aug.flip_direction)
                flips = [(None, len(dirs))] + [(d, 1) for d in dirs]
            steps = list(step['transforms']) + steps
        elif step['type'] in RESIZE_STEPS and step.get('img_scale') and sizes is None:
            scale = step['img_scale']
            sizes = [tuple(scale[0] if isinstance(scale[0], (tuple, list)) else scale)]
        elif step['type'] == 'Normalize':
            norm = step
    if sizes is None or norm is None:
        raise ValueError('config: the test pipeline needs a Resize size and a Normalize step')
    return PatchViews(sizes, flips, norm)


def in_passes(model: torch.nn.Module, n: int, batch_size: int,
              forward: Callable[[int, int], None]) -> None:
    """``forward(start, stop)`` over ``range(n)`` in passes of at most ``batch_size`` items. A
    pass that runs out of GPU memory is run again at half the items, and the model keeps that
    limit (``model.max_patches_per_pass``) for its later passes; one item that does not fit
    is the error it was."""
    start = 0
    while start < n:
        size = min(batch_size, getattr(model, 'max_patches_per_pass', batch_size))
        try:
            forward(start, start + size)
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise
        else:
            start += size
            continue
        # out of the handler: the failed pass's tensors can be given back
        torch.cuda.empty_cache()
        model.max_patches_per_pass = size // 2
        warnings.warn(f'out of GPU memory at {size} patches per forward pass, going on with '
                      f'{size // 2} (a batch size sets it from the start)')


@torch.no_grad()
def run_patches(model: torch.nn.Module, img_patches: np.ndarray, mask_patches: np.ndarray,
                batch_size: Optional[int] = None) -> np.ndarray:
    """Foreground probabilities (N, S, S) float32 of patches at their own resolution.

    ``img_patches`` (N, S, S, 3) uint8 in BGR order (as read by mmcv/OpenCV), ``mask_patches``
    (N, S, S) binary. Same preprocessing as the test pipeline: bilinear resize of the image
    to the network size, RGB + ImageNet normalisation, the mask as {-1, 1} resampled at the
    pixel centres (:class:`~bpr.datasets.ResizeExact`); the probabilities of the pipeline's
    test-time views (scales, flips) are averaged.
    ``batch_size`` patches per forward pass (default: :func:`default_batch_size`; fewer
    where the GPU's memory runs out, :func:`in_passes`).
    """
    n, side = len(img_patches), img_patches.shape[1] if len(img_patches) else 0
    if n == 0:
        return np.zeros((0, side, side), np.float32)
    views = patch_views(model.cfg)
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    mean = torch.tensor(views.norm['mean'], device=device).view(1, 3, 1, 1)
    std = torch.tensor(views.norm['std'], device=device).view(1, 3, 1, 1)
    total = len(views.sizes) * sum(weight for _, weight in views.flips)
    out = np.empty((n, side, side), np.float32)
    # the mask pixels each view reads (ResizeExact's), once for all passes
    picks = {(w, h): [torch.from_numpy(nearest_indices(side, length)).to(device)
                      for length in (h, w)] for w, h in views.sizes}

    def forward(start: int, stop: int) -> None:
        img = torch.from_numpy(img_patches[start:stop]).to(device).permute(0, 3, 1, 2).float()
        if views.norm.get('to_rgb', True):
            img = img.flip(1)
        mask = torch.from_numpy(mask_patches[start:stop]).to(device)[:, None].float() * 2 - 1
        prob = 0
        for w, h in views.sizes:
            img_s = F.interpolate(img, size=(h, w), mode='bilinear', align_corners=False)
            img_s = ((img_s - mean) / std).to(dtype)
            rows, cols = picks[w, h]
            mask_s = mask[:, :, rows][..., cols].to(dtype)
            for flip, weight in views.flips:
                meta = dict(img_shape=(h, w, 3), ori_shape=(side, side, 3), flip=bool(flip),
                            flip_direction=flip)
                img_v, mask_v = img_s, mask_s
                if flip:  # the segmentor flips its output back, as in aug_test
                    dim = 3 if flip == 'horizontal' else 2
                    img_v, mask_v = img_s.flip(dim), mask_s.flip(dim)
                prob = prob + weight * model.inference(img_v, [meta] * len(img), rescale=True,
                                                       coarse_mask=mask_v).float()
        out[start:stop] = (prob[:, -1] / total).cpu().numpy()

    in_passes(model, n, batch_size or default_batch_size(device), forward)
    return out


def run_groups(model: torch.nn.Module, groups: Dict[int, PatchGroup],
               batch_size: Optional[int] = None) -> Dict[int, np.ndarray]:
    """:func:`run_patches` on each side's patches of :func:`~bpr.core.extract_image`."""
    return {side: run_patches(model, group.img, group.mask, batch_size)
            for side, group in groups.items()}


TEST_OPTION_HELP = {
    'min_size': 'instances smaller than this (px, longer box side) keep their coarse mask',
    'iou_thresh': 'NMS IoU threshold of the boundary boxes',
    'patch_size': 'side of the boundary boxes in px',
    'patch_ratio': "boxes at least this fraction of their instance's longer side in px "
                   '(0: every box of patch-size)',
    'min_part': 'specks and pinholes smaller than this (px) that refining made are removed',
}


def add_test_options(parser: argparse.ArgumentParser, release: bool = False) -> None:
    """``--min-size``, ``--iou-thresh``, ``--patch-size``, ``--patch-ratio``, ``--min-part``
    and ``--flip``/``--no-flip`` of the tools; ``None`` unless given: the checkpoint's own
    (:func:`for_model`, :func:`init_refiner`). ``release``: the same options as
    ``tools/publish_model.py`` stores them in a checkpoint's meta."""
    for name in PATCH_SETTINGS:
        what = TEST_OPTION_HELP[name]
        parser.add_argument(
            '--' + name.replace('_', '-'), type=setting_arg(name),
            help=f'{what}: stored in its meta, the default of inference' if release else
            f"{what} (default: the checkpoint's own, else {getattr(ReleaseSettings(), name)})")
    parser.add_argument('--flip', action=argparse.BooleanOptionalAction,
                        help='flip test-time augmentation on (or --no-flip: off) by default in '
                        'inference: stored in its meta' if release else
                        "flip test-time augmentation (default: the checkpoint's own, else "
                        'the config)')


def patch_config(args: argparse.Namespace) -> PatchConfig:
    """The :class:`PatchConfig` of a tool's options (:func:`add_test_options`, and
    ``--padding`` and ``--sampling`` where it has them)."""
    return PatchConfig(padding=getattr(args, 'padding', 0),
                       sampling=getattr(args, 'sampling', 'nms'),
                       **{k: getattr(args, k, None) for k in PATCH_SETTINGS})


def for_model(cfg: PatchConfig, model: Union[torch.nn.Module, ReleaseSettings]) -> PatchConfig:
    """``cfg`` with the settings of ``PATCH_SETTINGS`` left ``None`` set to the
    model's own (from :func:`init_refiner`, or a checkpoint's :func:`test_settings`);
    ``ValueError`` when a setting is out of range (:meth:`PatchConfig.check`)."""
    default = ReleaseSettings()
    return cfg._replace(**{k: getattr(model, k, getattr(default, k)) for k in PATCH_SETTINGS
                           if getattr(cfg, k) is None}).check()


def refine_masks(model: torch.nn.Module, image: np.ndarray, masks: Sequence[np.ndarray],
                 cfg: PatchConfig = PatchConfig(), batch_size: Optional[int] = None
                 ) -> List[np.ndarray]:
    """Refined (H, W) bool masks of one BGR image, in the order of ``masks``."""
    cfg = for_model(cfg, model)
    instances, groups = extract_image(image, masks, cfg)
    probs = run_groups(model, groups, batch_size)
    return reassemble_image(masks, instances, probs, cfg.padding, cfg.min_part)


def _read_image(image: Union[str, np.ndarray]) -> np.ndarray:
    if isinstance(image, np.ndarray):
        channels = 1 if image.ndim == 2 else image.shape[2] if image.ndim == 3 else 0
        if channels not in (1, 3, 4):
            raise ValueError(f'image: expected an HxW, HxWx3 or HxWx4 array, got shape '
                             f'{image.shape}')
        if image.dtype != np.uint8:  # a float image in [0, 1] would be refined as black
            raise ValueError(f'image: expected a uint8 array (BGR, 0-255), got {image.dtype}')
        # grey and BGRA as mmcv.imread(path) gives them from such files: BGR
        if channels == 1:
            return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR) if channels == 4 else image
    return read_image(image)


def refine(model: torch.nn.Module, image: Union[str, np.ndarray], masks,
           iou_thresh: Optional[float] = None, patch_size: Optional[int] = None,
           padding: int = 0, batch_size: Optional[int] = None, min_size: Optional[int] = None,
           min_part: Optional[int] = None, patch_ratio: Optional[float] = None):
    """Refine the instance masks of one image.

    Args:
        model: From :func:`init_refiner`.
        image: Path, or (H, W, 3) uint8 array in BGR order like ``mmcv.imread`` gives
            (grey (H, W) and BGRA (H, W, 4) are converted; other dtypes are refused).
        masks: (N, H, W) boolean array or tensor, or a list of (H, W) arrays or tensors,
            RLE dicts or COCO result dicts (with ``segmentation``), in any mix.
        iou_thresh: NMS IoU threshold of the boundary boxes (larger: more patches); default:
            the model's own, else 0.25.
        patch_size: Box side in image pixels; default: the model's own, else 64.
        padding: Context padding of the boxes, in image pixels.
        batch_size: Patches per forward pass; default: 256 on a GPU, 16 on the CPU.
        min_size: Instances smaller than this (px, longer side of their box) keep their
            coarse mask; default: the model's own (see :class:`~bpr.core.PatchConfig`).
        min_part: Specks and pinholes smaller than this (px) that refining made are removed;
            default: the model's own, else 0.
        patch_ratio: Boxes at least this fraction of their instance's longer side (for
            photographs of higher resolution than the model was tuned on); default: the
            model's own, else 0 (every box ``patch_size``).

    Returns:
        The refined masks in the form and order they came in (boolean arrays for arrays,
        tensors on the same device for tensors, RLE dicts for RLEs); COCO dicts keep their
        other fields.
    """
    img = _read_image(image)
    h, w = img.shape[:2]
    cfg = PatchConfig(patch_size, padding, iou_thresh, min_size=min_size, min_part=min_part,
                      patch_ratio=patch_ratio)
    if isinstance(masks, (np.ndarray, torch.Tensor)):
        if masks.ndim != 3 or tuple(masks.shape[1:]) != (h, w):
            raise ValueError(f'masks: expected shape (N, {h}, {w}), got {tuple(masks.shape)}')
        refined = refine_masks(model, img, list(_numpy_bool(masks)), cfg, batch_size)
        return _like(np.stack(refined) if refined else np.zeros((0, h, w), bool), masks)
    masks = list(masks)
    binary = [_binary_mask(m, h, w, f'masks[{i}]') for i, m in enumerate(masks)]
    refined = refine_masks(model, img, binary, cfg, batch_size)
    return [_like(r, m) if isinstance(m, (np.ndarray, torch.Tensor)) else
            dict(m, segmentation=encode(r)) if 'segmentation' in m else encode(r)
            for m, r in zip(masks, refined)]


def _numpy_bool(mask: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    return mask.astype(bool)


def _like(mask: np.ndarray, given: Union[np.ndarray, torch.Tensor]):
    """``mask`` as a tensor on ``given``'s device if ``given`` is a tensor."""
    return torch.from_numpy(mask).to(given.device) if isinstance(given, torch.Tensor) else mask


def _binary_mask(mask, height: int, width: int, where: str) -> np.ndarray:
    """(H, W) boolean mask of one of :func:`refine`'s list items."""
    if isinstance(mask, (np.ndarray, torch.Tensor)):
        if tuple(mask.shape) != (height, width):
            raise ValueError(f'{where}: expected shape ({height}, {width}), '
                             f'got {tuple(mask.shape)}')
        return _numpy_bool(mask)
    segm = mask['segmentation'] if 'segmentation' in mask else mask
    return decode(segm, height, width, where=where)
