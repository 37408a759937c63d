"""Running the refinement network over a patch dataset (``tools/test.py``)."""
import pickle
from typing import List

import mmcv
import numpy as np
import torch
import torch.distributed as dist
from mmcv.parallel import scatter
from mmseg.datasets import build_dataloader, build_dataset
from tqdm import tqdm

from ..core.io import atomic_write, check_output
from .dist import init_dist
from .inference import default_batch_size, default_device, in_passes, init_refiner
from .train import check_data_root


@torch.no_grad()
def predict_patches(model, data_loader, device: str, progress: bool = True) -> List[np.ndarray]:
    """Foreground probabilities of the loader's patches, batch by batch, in loader order
    (a batch too large for the GPU's memory in parts, :func:`~bpr.apis.inference.in_passes`)."""
    target = [-1] if device == 'cpu' else [torch.device(device).index or 0]
    outputs = []
    for data in tqdm(data_loader, desc='patches', unit='batch',
                     disable=None if progress else True):  # bars on a terminal only
        data = scatter(data, target)[0]
        size = len(data['img_metas'][0])

        def forward(start: int, stop: int) -> None:
            # each key holds one tensor or list per test-time view, over the batch
            outputs.extend(model(return_loss=False, **{
                key: [view[start:stop] for view in views] for key, views in data.items()}))

        in_passes(model, size, size, forward)
    return outputs


def _gather_in_order(part: list, size: int) -> list:
    """Results of a DistributedSampler(shuffle=False) run in dataset order, on rank 0."""
    world = dist.get_world_size()
    parts = [None] * world if dist.get_rank() == 0 else None
    dist.gather_object(part, parts, dst=0)
    if dist.get_rank() != 0:
        return None
    # the sampler deals index i to rank i % world, padding the tail with repeats
    return [parts[i % world][i // world] for i in range(size)]


def run_test(config: str, checkpoint: str, out: str = None, eval_metrics=None,
             cfg_options: dict = None, launcher: str = 'none', device: str = None,
             batch_size: int = None, progress: bool = True):
    """What ``tools/test.py`` does; returns the outputs (on rank 0) and the metrics."""
    cfg = mmcv.Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if out:
        check_output(out, [config, checkpoint])
    check_data_root(cfg, ('test', ))
    distributed = launcher != 'none'
    if distributed:
        device = init_dist(launcher=launcher, device=device)
    device = device or default_device()
    dataset = build_dataset(cfg.data.test, dict(test_mode=True))
    # patches per forward pass: the device's (the stock tools take 1), unless the config's
    # test_dataloader or the caller says otherwise
    loader_cfg = dict(samples_per_gpu=default_batch_size(device),
                      workers_per_gpu=cfg.data.get('workers_per_gpu', 2),
                      persistent_workers=cfg.data.get('persistent_workers', True),
                      dist=distributed, shuffle=False,
                      pin_memory=torch.device(device).type == 'cuda')
    loader_cfg.update(cfg.data.get('test_dataloader', {}))
    if batch_size:
        loader_cfg['samples_per_gpu'] = batch_size
    data_loader = build_dataloader(dataset, **loader_cfg)

    model = init_refiner(cfg, checkpoint, device)
    outputs = predict_patches(model, data_loader, str(next(model.parameters()).device),
                              progress)
    if distributed:
        outputs = _gather_in_order(outputs, len(dataset))
        if outputs is None:
            return None, None
    metrics = None
    if out:
        with atomic_write(out, 'wb') as f:
            pickle.dump(outputs, f, protocol=pickle.HIGHEST_PROTOCOL)
    if eval_metrics:
        metrics = dataset.evaluate(dataset.pre_eval(outputs, list(range(len(dataset)))),
                                   eval_metrics)
    return outputs, metrics
