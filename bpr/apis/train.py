"""Training the refinement network with mmseg's runner, on GPUs or CPU processes."""
import contextlib
import copy
import os.path as osp
import time

import mmcv
import mmseg
import mmseg.apis.train as mmseg_train
import torch
import torch.distributed as dist
from mmcv.runner import RUNNERS, IterBasedRunner
from mmcv.utils import get_logger
from mmseg.apis import init_random_seed, set_random_seed, train_segmentor
from mmseg.datasets import build_dataset
from mmseg.models import build_segmentor
from mmseg.utils import build_ddp, get_root_logger

from ..core.io import InputError
from ..version import __version__
from .dist import CPUDistributedDataParallel, init_dist
from .env import collect_env
from .inference import check_device, default_device


@RUNNERS.register_module()
class CPUIterBasedRunner(IterBasedRunner):
    """IterBasedRunner that can resume without CUDA (mmcv 1.7 maps checkpoints to a GPU)."""

    def resume(self, checkpoint, resume_optimizer=True, map_location='default'):
        if map_location == 'default' and not torch.cuda.is_available():
            map_location = 'cpu'
        super().resume(checkpoint, resume_optimizer, map_location)


def replace_sync_bn(cfg) -> int:
    """Turn every ``SyncBN`` of a config (dict tree) into ``BN`` in place; return the count."""
    count = 0
    if isinstance(cfg, dict):
        if cfg.get('type') == 'SyncBN':
            cfg['type'] = 'BN'
            count += 1
        for value in cfg.values():
            count += replace_sync_bn(value)
    elif isinstance(cfg, (list, tuple)):
        count += sum(replace_sync_bn(v) for v in cfg)
    return count


def _build_ddp(model, device='cuda', *args, **kwargs):
    if device == 'cpu':
        kwargs.pop('device_ids', None)
        return CPUDistributedDataParallel(model, *args, **kwargs)
    return build_ddp(model, device, *args, **kwargs)


@contextlib.contextmanager
def _cpu_ddp():
    # mmseg's train_segmentor builds its DDP wrapper itself and knows only GPUs.
    original = mmseg_train.build_ddp
    mmseg_train.build_ddp = _build_ddp
    try:
        yield
    finally:
        mmseg_train.build_ddp = original


def train_refiner(model, datasets, cfg, distributed=False, validate=False, timestamp=None,
                  meta=None):
    """mmseg's ``train_segmentor``, also on CPU processes (``cfg.device == 'cpu'``)."""
    if distributed and cfg.device == 'cpu' and validate:
        get_logger('mmseg').warning(
            'validation during training needs GPUs when distributed: it is skipped; '
            'run tools/test.py on the checkpoints instead')
        validate = False
    cfg = copy.deepcopy(cfg)
    if cfg.device == 'cpu' and cfg.runner.type == 'IterBasedRunner':
        cfg.runner.type = 'CPUIterBasedRunner'
    if cfg.get('channels_last', True):
        # NHWC convolutions (and their gradients) run faster with oneDNN and cuDNN alike:
        # docs/benchmarks.md measures 1.1-1.6x per training step on CPU and GPU
        model.to(memory_format=torch.channels_last)
    with _cpu_ddp():
        train_segmentor(model, datasets, cfg, distributed, validate, timestamp, meta)


def patch_datasets(ds) -> list:
    """The patch datasets (configs with a ``mask_dir``) that a ``data.train``-like config is
    built from: itself, or those in the forms mmseg's ``build_dataset`` combines: a list
    (concatenated) and the wrappers of a ``dataset`` (``RepeatDataset``,
    ``MultiImageMixDataset``). Other datasets are left out: their classes check their folders."""
    if isinstance(ds, (list, tuple)):
        return [part for d in ds for part in patch_datasets(d)]
    if 'dataset' in ds:
        return patch_datasets(ds['dataset'])
    return [ds] if 'mask_dir' in ds else []


def check_data_root(cfg, splits=('train', )) -> None:
    """Fail early, naming the path, when a patch dataset of a config is not usable."""
    from ..datasets import DataRootError, check_patch_folders
    for split in splits:
        for ds in patch_datasets(cfg.data[split]):
            root = ds.get('data_root')
            if root is None:
                raise DataRootError('DATA_ROOT is not set: point it at the patch dataset '
                                    '(the `patches` folder written by tools/prepare_dataset*.sh)')
            check_patch_folders(ds['img_dir'], ds['mask_dir'], ds.get('ann_dir'), root)


def scale_lr(cfg, world_size: int) -> str:
    """Scale ``cfg.optimizer.lr`` by the total batch over ``auto_scale_lr.base_batch_size``
    (the linear scaling rule, as mmdetection's ``--auto-scale-lr``) when
    ``cfg.auto_scale_lr.enable``; return a line saying what was done."""
    setting = cfg.get('auto_scale_lr') or {}
    if not setting.get('enable', False):
        return 'Automatic scaling of the learning rate: off'
    base = setting.get('base_batch_size')
    if not isinstance(base, int) or base < 1:
        raise ValueError(f'auto_scale_lr.base_batch_size {base!r}: expected a positive integer '
                         '(the total batch the config\'s learning rate is meant for)')
    per_gpu = cfg.data.get('train_dataloader', {}).get('samples_per_gpu',
                                                       cfg.data.samples_per_gpu)
    batch = per_gpu * world_size
    lr = cfg.optimizer.lr
    cfg.optimizer.lr = lr * batch / base
    return (f'Learning rate scaled from {lr:g} to {cfg.optimizer.lr:g}: total batch {batch} '
            f'({world_size} x {per_gpu}) for a base batch of {base}')


def run_training(config: str, work_dir: str = None, resume_from: str = None,
                 load_from: str = None, auto_resume: bool = False, validate: bool = True,
                 seed: int = None, deterministic: bool = False, cfg_options: dict = None,
                 launcher: str = 'none', auto_scale_lr: bool = False,
                 device: str = None, time_budget: float = None) -> None:
    """What ``tools/train.py`` does: configure, check the data, build, train.

    ``auto_scale_lr``: scale the learning rate to the total batch (:func:`scale_lr`).
    ``time_budget``: minutes the training loop may take; the run is shortened to the
    iterations that fit, its schedule with it (:class:`~bpr.core.budget.TimeBudgetHook`).
    ``device``: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; default: CUDA if available (with a
    launcher, each process takes the GPU of its local rank, or the CPU).
    """
    cfg = mmcv.Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    if time_budget is not None:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='TimeBudgetHook', minutes=time_budget)]
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(config))[0])
    cfg.resume_from = resume_from or cfg.get('resume_from')
    cfg.load_from = load_from or cfg.get('load_from')
    cfg.auto_resume = auto_resume
    check_data_root(cfg, ('train', 'val') if validate else ('train', ))

    distributed = launcher != 'none'
    if distributed:
        device = init_dist(cfg.dist_params.get('backend'), launcher, device)
        cfg.gpu_ids = range(dist.get_world_size())
    else:
        dev = check_device(device or default_device())
        if dev.type == 'cuda' and dev.index is not None:  # mmseg uses the current GPU
            torch.cuda.set_device(dev.index)
        device = str(dev)
        cfg.gpu_ids = [dev.index or 0]
    cfg.device = device.split(':')[0]
    if cfg.get('cudnn_benchmark', False) and cfg.device == 'cuda':
        torch.backends.cudnn.benchmark = True
    try:
        lr_line = scale_lr(cfg, len(cfg.gpu_ids))
    except ValueError as err:
        raise InputError(f'{config}: {err}') from None

    mmcv.mkdir_or_exist(osp.abspath(cfg.work_dir))
    cfg.dump(osp.join(cfg.work_dir, osp.basename(config)))
    timestamp = time.strftime('%Y%m%d_%H%M%S', time.localtime())
    logger = get_root_logger(log_file=osp.join(cfg.work_dir, f'{timestamp}.log'),
                             log_level=cfg.log_level)
    # SyncBN needs GPUs in one process group; elsewhere plain BN is the same computation.
    if cfg.device == 'cpu' or not distributed:
        n = replace_sync_bn(cfg.model)
        if n:
            logger.info(f'{"CPU" if cfg.device == "cpu" else "single-process"} training: '
                        f'{n} SyncBN layer config(s) replaced by BN')
    # rank 0 alone logs it and saves it in the checkpoints
    main_process = not distributed or dist.get_rank() == 0
    env_info = '\n'.join(f'{k}: {v}' for k, v in collect_env().items()) if main_process \
        else ''
    logger.info(f'Environment info:\n{env_info}\nDistributed training: {distributed} '
                f'({cfg.device})\nConfig:\n{cfg.pretty_text}')

    seed = init_random_seed(seed, device=cfg.device)
    if distributed:  # different seeds for data augmentation on each process
        seed += dist.get_rank()
    set_random_seed(seed, deterministic=deterministic)
    cfg.seed = seed
    logger.info(f'Set random seed to {seed}, deterministic: {deterministic}')
    logger.info(lr_line)

    datasets = [build_dataset(cfg.data.train)]
    model = build_segmentor(cfg.model, train_cfg=cfg.get('train_cfg'),
                            test_cfg=cfg.get('test_cfg'))
    model.init_weights()
    model.CLASSES = datasets[0].CLASSES
    meta = dict(env_info=env_info, seed=seed, exp_name=osp.basename(config),
                config=cfg.pretty_text, CLASSES=datasets[0].CLASSES,
                PALETTE=datasets[0].PALETTE)
    cfg.checkpoint_config.meta = dict(mmseg_version=f'{mmseg.__version__}+bpr{__version__}',
                                      config=cfg.pretty_text, CLASSES=datasets[0].CLASSES,
                                      PALETTE=datasets[0].PALETTE)
    train_refiner(model, datasets, cfg, distributed=distributed, validate=validate,
                  timestamp=timestamp, meta=meta)
