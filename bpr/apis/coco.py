"""Refining a whole COCO-form result file, image by image, on one or several processes."""
import os.path as osp
from typing import Dict, List, Optional

import mmcv
import torch.distributed as dist
from tqdm import tqdm

from ..core import PatchConfig, decode, encode
from ..core.io import (InputError, check_images, check_output, dump_json, group_by_image,
                       load_gt, load_results, read_image)
from .inference import refine_masks


def refine_results(model, results: List[dict], gt: dict, img_dir: str, cfg: PatchConfig,
                   batch_size: int = 256, rank: int = 0, world_size: int = 1,
                   progress: bool = True) -> Dict[int, dict]:
    """Refined RLEs ``{result index: rle}`` of the images that fall to ``rank``.

    Images are streamed one at a time: memory holds one image and its patches.
    """
    images = {img['id']: img for img in gt['images']}
    groups = group_by_image(results)
    image_ids = sorted(groups)[rank::world_size]
    refined = {}
    for image_id in tqdm(image_ids, desc=f'refine[{rank}]', disable=not progress,
                         position=rank):
        info = images[image_id]
        img = read_image(osp.join(img_dir, info['file_name']))
        h, w = info['height'], info['width']
        if img.shape[:2] != (h, w):
            raise InputError(f'{osp.join(img_dir, info["file_name"])}: unreadable or not of '
                             f'the size {h}x{w} given in the ground truth')
        idx = groups[image_id]
        masks = [decode(results[i]['segmentation'], h, w, where=f'result [{i}]') for i in idx]
        for i, mask in zip(idx, refine_masks(model, img, masks, cfg, batch_size)):
            refined[i] = encode(mask)
    return refined


def refine_coco_file(model, coarse_json: str, out_json: str, gt_json: str, img_dir: str,
                     cfg: PatchConfig = PatchConfig(), batch_size: int = 256,
                     progress: bool = True) -> Optional[List[dict]]:
    """Refine ``coarse_json`` into ``out_json``; every process of a distributed run calls it.

    The output holds every input result, in input order, with only ``segmentation`` changed.
    The output path and the inputs (JSON, image ids, segmentations, image files) are checked
    before any work; the output file is written atomically by rank 0, which also returns the
    results.
    """
    check_output(out_json, [coarse_json, gt_json])
    gt = load_gt(gt_json)
    results = load_results(coarse_json, gt, gt_json)
    check_images(gt, group_by_image(results), img_dir)
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() \
        else (0, 1)
    refined = refine_results(model, results, gt, img_dir, cfg, batch_size, rank, world_size,
                             progress)
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
