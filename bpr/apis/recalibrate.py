"""BatchNorm statistics re-estimated for weights that were not trained as they are."""
import os.path as osp
from functools import partial
from typing import Optional, Tuple, Union

import mmcv
import torch
from mmcv.parallel import collate
from mmseg.datasets import build_dataset

from ..core.io import InputError
from .inference import DEFAULT_CONFIG, init_refiner
from .train import patch_datasets


def _test_time_view(pipeline: list) -> list:
    """The training pipeline without its random changes: colour distortion and flips are
    for learning the weights (and would make the statistics vary from run to run); the
    statistics must be those of the patches seen at test time."""
    out = []
    for t in pipeline:
        if t['type'] == 'PhotoMetricDistortion':
            continue
        out.append(dict(t, prob=0.0) if t['type'] == 'RandomFlip' else t)
    return out


def statistics_patches(cfg: mmcv.Config, data_root: str):
    """The training patches under ``data_root`` (a ``tools/split_patches.py`` output), laid
    out and seen as the config's ``data.train`` (its first patch dataset, if it lists or wraps
    several) sees them at test time; :class:`InputError` when there are none."""
    parts = patch_datasets(cfg.data.train)
    if not parts:
        raise InputError('the config trains on no patch dataset (data.train has no mask_dir)')
    train = parts[0]
    img_dir = osp.join(data_root, train['img_dir'])
    if not osp.isdir(img_dir):
        raise InputError(f'{img_dir}: no such folder of training patches')
    pipeline = _test_time_view(train['pipeline'])
    dataset = build_dataset(dict(train, data_root=data_root, pipeline=pipeline))
    if len(dataset) == 0:
        raise InputError(f'{img_dir}: no training patches')
    return dataset


def recalibrate_bn(model: torch.nn.Module, dataset, num_patches: int = 4096,
                   batch_size: int = 64, seed: int = 0, workers: int = 2) -> int:
    """Replace the running mean/variance of every BatchNorm layer of ``model`` by the plain
    average over ``num_patches`` patches of ``dataset`` (drawn with ``seed``), as
    ``torch.optim.swa_utils.update_bn``: an average of two networks' weights (WiSE-FT, model
    soups) does not have the average of their statistics. Weights are untouched; ``model``
    is left in eval mode. Returns the number of patches used."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    device = next(model.parameters()).device
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    subset = torch.utils.data.Subset(dataset, order[:num_patches].tolist())
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, num_workers=workers,
                                         collate_fn=partial(collate, samples_per_gpu=batch_size))
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    model.eval()
    for m in bns:
        m.train()  # only BatchNorm needs training mode, also under a backbone's norm_eval
    with torch.no_grad():
        for batch in loader:
            img = batch['img'].data[0].to(device)
            mask = batch['coarse_mask'].data[0].to(device)
            model.decode_head(model.extract_feat(img, mask))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()
    return len(subset)


def recalibrated_state(state: dict, data_root: str,
                       config: Union[str, mmcv.Config] = DEFAULT_CONFIG,
                       num_patches: int = 4096, seed: int = 0,
                       device: Optional[str] = None) -> Tuple[dict, int]:
    """``state`` (a refiner's ``state_dict``) with BatchNorm statistics re-estimated on the
    training patches of ``data_root`` (:func:`statistics_patches`), same keys and
    dtypes, and the number of patches used."""
    cfg = mmcv.Config.fromfile(config) if isinstance(config, str) else config
    dataset = statistics_patches(cfg, data_root)
    model = init_refiner(cfg, 'none', device=device, fuse=False)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    used = recalibrate_bn(model, dataset, num_patches, seed=seed)
    new = model.state_dict()
    return {k: new[k].to(v.dtype).cpu() for k, v in state.items()}, used
