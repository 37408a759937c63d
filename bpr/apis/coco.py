"""Refining a whole COCO-form result file, image by image, on one or several processes."""
import multiprocessing as mp
import os
import os.path as osp
import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..core import (InstancePatches, PatchConfig, decode, encode, extract_image,
                    reassemble_image)
from ..core.io import (InputError, check_images, check_output, dump_json, group_by_image,
                       load_gt, load_results, read_image)
from .inference import for_model, run_groups


class ImagePatches(Dataset):
    """The CPU work before the network, one image per item: read it, decode its coarse
    masks, extract their patches. A :class:`DataLoader` with workers prepares the next
    images while the network runs."""

    def __init__(self, results: List[dict], images: Dict[int, dict], groups: Dict[int, list],
                 image_ids: List[int], img_dir: str, cfg: PatchConfig):
        self.results, self.images, self.groups = results, images, groups
        self.image_ids, self.img_dir, self.cfg = image_ids, img_dir, cfg

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, k: int):
        """``(image_id, instances, groups)`` (:func:`~bpr.core.extract_image`), or the
        :class:`InputError` to raise (a worker's exception would reach the caller wrapped in
        its traceback)."""
        image_id = self.image_ids[k]
        info = self.images[image_id]
        path = osp.join(self.img_dir, info['file_name'])
        try:
            img = read_image(path)
            h, w = info['height'], info['width']
            if img.shape[:2] != (h, w):
                raise InputError(f'{path}: not of the size {h}x{w} given in the ground truth')
            masks = [decode(self.results[i]['segmentation'], h, w, where=f'result [{i}]')
                     for i in self.groups[image_id]]
            return (image_id, ) + tuple(extract_image(img, masks, self.cfg))
        except InputError as err:
            return err


def _single(batch):
    return batch[0]


def default_workers(device) -> int:
    """Loader workers: on a GPU, enough to keep it fed; on the CPU none (the network already
    uses every core)."""
    if torch.device(device).type != 'cuda':
        return 0
    per_process = (os.cpu_count() or 1) // int(os.environ.get('LOCAL_WORLD_SIZE', 1))
    return max(0, min(4, per_process - 1))


def paste_image(segmentations: Sequence, height: int, width: int,
                instances: Sequence[InstancePatches], probs: Dict[int, np.ndarray],
                padding: int, min_part: int) -> List[dict]:
    """RLEs of an image's refined masks: its coarse ``segmentations`` (checked already) with
    the network's patch probabilities pasted back (:func:`~bpr.core.reassemble_image`)."""
    # decoded again rather than sent from the loader: an RLE decodes faster than a
    # full-size mask crosses processes
    masks = [decode(s, height, width, check=False) for s in segmentations]
    return [encode(m) for m in reassemble_image(masks, instances, probs, padding, min_part)]


def _leave_interrupts_to_the_parent(*_):
    """Ctrl-C reaches the whole process group: loaders and pasters leave it to the parent,
    which stops them (interrupted, a loader would wait for the parent to read what it sent,
    and the parent waits 5 s for each loader; a paster would print a traceback)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def paste_processes(workers: int) -> int:
    """How many processes :func:`paster` pastes in for ``workers`` loaders (0: a thread)."""
    return max(1, workers // 2) if workers and 'fork' in mp.get_all_start_methods() else 0


def paster(workers: int) -> Executor:
    """Where :func:`refine_results` pastes while the network goes on. With loader workers
    (on a GPU), processes of their own, one per two workers: in a thread, pasting would take
    turns on the GIL with the Python side of the network, which launches its kernels one by
    one. Forked, as the loaders are: a spawned process would import the package again.
    Without (on the CPU, whose cores the network already uses), a thread."""
    processes = paste_processes(workers)
    if processes:
        pool = ProcessPoolExecutor(processes, mp_context=mp.get_context('fork'),
                                   initializer=_leave_interrupts_to_the_parent)
        pool.submit(int).result()  # all forked now, before the loaders and the network start
        return pool
    return ThreadPoolExecutor(1)


def refine_results(model, results: List[dict], gt: dict, img_dir: str, cfg: PatchConfig,
                   batch_size: Optional[int] = None, rank: int = 0, world_size: int = 1,
                   progress: bool = True, workers: Optional[int] = None) -> Dict[int, dict]:
    """Refined RLEs ``{result index: rle}`` of the images that fall to ``rank``.

    A pipeline over the images: ``workers`` loader processes read images and extract
    patches ahead (default: :func:`default_workers`), the network runs here, and
    :func:`paster` pastes the probabilities back and encodes the masks while the network
    goes on.
    """
    images = {img['id']: img for img in gt['images']}
    groups = group_by_image(results)
    image_ids = sorted(groups)[rank::world_size]
    if workers is None:
        workers = default_workers(next(model.parameters()).device)
    cfg = for_model(cfg, model)
    loader = DataLoader(ImagePatches(results, images, groups, image_ids, img_dir, cfg),
                        batch_size=1, collate_fn=_single, num_workers=workers,
                        prefetch_factor=2 if workers else None,
                        worker_init_fn=_leave_interrupts_to_the_parent)
    refined, pending = {}, []  # pending: (result indices, future of their RLEs)
    with paster(workers) as pool:
        for item in tqdm(loader, desc=f'refine[{rank}]', position=rank,
                         disable=None if progress else True):  # bars on a terminal only
            if isinstance(item, InputError):
                raise item
            image_id, instances, patches = item
            probs = run_groups(model, patches, batch_size)
            info, idx = images[image_id], groups[image_id]
            pending.append((idx, pool.submit(
                paste_image, [results[i]['segmentation'] for i in idx], info['height'],
                info['width'], instances, probs, cfg.padding, cfg.min_part)))
            # a few images in flight at most: memory stays bounded if pasting lags behind
            while pending and (pending[0][1].done() or len(pending) > 4):
                idx, future = pending.pop(0)
                refined.update(zip(idx, future.result()))
        for idx, future in pending:
            refined.update(zip(idx, future.result()))
    return refined


def refine_coco_file(model, coarse_json: str, out_json: str, gt_json: str, img_dir: str,
                     cfg: PatchConfig = PatchConfig(), batch_size: Optional[int] = None,
                     progress: bool = True, workers: Optional[int] = None
                     ) -> Optional[List[dict]]:
    """Refine ``coarse_json`` into ``out_json``; every process of a distributed run calls it.

    The output holds every input result, in input order, with only ``segmentation`` changed.
    The output path and the inputs (JSON, image ids, segmentations, image files) are checked
    before any work; the output file is written atomically by rank 0, which also returns the
    results.
    """
    cfg = for_model(cfg, model)
    check_output(out_json, [coarse_json, gt_json])
    gt = load_gt(gt_json)
    results = load_results(coarse_json, gt, gt_json)
    check_images(gt, group_by_image(results), img_dir)
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() \
        else (0, 1)
    refined = refine_results(model, results, gt, img_dir, cfg, batch_size, rank, world_size,
                             progress, workers)
    if world_size > 1:
        parts = [None] * world_size if rank == 0 else None
        dist.gather_object(refined, parts, dst=0)
        if rank != 0:
            return None
        refined = {k: v for part in parts for k, v in part.items()}
    out = [dict(res, segmentation=refined.get(i, res['segmentation']))
           for i, res in enumerate(results)]
    dump_json(out, out_json)
    return out
