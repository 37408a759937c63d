"""Building the on-disk patch dataset (training) and merging its refined patches back."""
import json
import os
import os.path as osp
import pickle
import random
from functools import partial
from typing import List, Optional

import mmcv
import numpy as np

from ..core import (InstancePatches, PatchConfig, crop_patches, decode, encode,
                    extract_instance, reassemble_instance)
from ..core.io import (InputError, check_images, dump_json, group_by_image, load_gt,
                       load_json, load_results)
from ..core.matching import best_gt, gt_by_image
from ..core.parallel import parallel_map

SUBDIRS = ('img_dir', 'ann_dir', 'mask_dir', 'detail_dir')


def patch_name(inst_id: int, k: int) -> str:
    """File stem of patch ``k`` of instance ``inst_id``; sorting names keeps that order."""
    return f'{inst_id:08d}_{k:05d}'


def _split_image(job, out_dir: str, mode: str, cfg: PatchConfig, img_dir: str) -> int:
    """Write the patches and detail records of one image's instances; return the count."""
    info, results, inst_ids, anns = job
    h, w = info['height'], info['width']
    path = osp.join(img_dir, info['file_name'])
    image = mmcv.imread(path, 'color')
    if image is None or image.shape[:2] != (h, w):
        raise InputError(f'{path}: unreadable or not of the size {h}x{w} given in the GT')
    _, match = best_gt(results, anns, h, w)
    n = 0
    for res, inst_id, m in zip(results, inst_ids, match):
        coarse = decode(res['segmentation'], h, w, where=f'instance {inst_id}')
        gt = decode(anns[m]['segmentation'], h, w) if m >= 0 else np.zeros((h, w), bool)
        inst = extract_instance(coarse, cfg)
        boxes = inst.boxes
        names = [patch_name(inst_id, k) for k in range(len(boxes))]
        crops = {
            'img_dir': crop_patches(image, boxes, cfg.padding),
            'mask_dir': crop_patches(coarse.astype(np.uint8) * 255, boxes, cfg.padding),
            'ann_dir': crop_patches(gt.astype(np.uint8) * 255, boxes, cfg.padding),
        }
        for sub, patches in crops.items():
            for name, patch in zip(names, patches):
                mmcv.imwrite(patch, osp.join(out_dir, sub, mode, name + '.png'))
        record = dict(inst_id=int(inst_id), image_id=res['image_id'], height=h, width=w,
                      patch_size=inst.box_size or cfg.box_size, padding=cfg.padding,
                      boxes=boxes.tolist(), patches=names)
        with open(osp.join(out_dir, 'detail_dir', mode, f'{inst_id:08d}.json'), 'w') as f:
            json.dump(record, f)
        n += len(names)
    return n


def split_patches(coarse_json: str, gt_json: str, img_dir: str, out_dir: str,
                  mode: str = 'train', cfg: PatchConfig = PatchConfig(),
                  sample_inst: Optional[int] = None, seed: int = 0, num_proc: int = 1,
                  progress: bool = True) -> int:
    """Write the patch dataset of ``coarse_json`` under ``out_dir/{img,ann,mask,detail}_dir/mode``.

    Instance ids are indices into ``coarse_json``; ``sample_inst`` keeps that many instances
    drawn at random (``seed``). Returns the number of patches written.
    """
    gt = load_gt(gt_json)
    results = load_results(coarse_json, gt, gt_json)
    ids = list(range(len(results)))
    if sample_inst is not None and sample_inst < len(ids):
        ids = sorted(random.Random(seed).sample(ids, sample_inst))
    groups = group_by_image([results[i] for i in ids])
    check_images(gt, groups, img_dir)
    for sub in SUBDIRS:
        os.makedirs(osp.join(out_dir, sub, mode), exist_ok=True)
    images = {img['id']: img for img in gt['images']}
    anns = gt_by_image(gt)
    jobs = []
    for image_id, local in groups.items():
        inst_ids = [ids[i] for i in local]
        jobs.append((images[image_id], [results[i] for i in inst_ids], inst_ids,
                     anns[image_id]))
    work = partial(_split_image, out_dir=out_dir, mode=mode, cfg=cfg, img_dir=img_dir)
    return sum(parallel_map(work, jobs, num_proc, f'split {mode}', progress))


def load_details(detail_dir: str) -> List[dict]:
    """Detail records of a patch dataset split, sorted by instance id."""
    if not osp.isdir(detail_dir):
        raise InputError(f'{detail_dir}: detail directory not found')
    records = []
    for name in sorted(os.listdir(detail_dir)):
        if name.endswith('.json'):
            rec = load_json(osp.join(detail_dir, name), 'detail record')
            if not isinstance(rec, dict) or not {'inst_id', 'boxes', 'patches'} <= rec.keys():
                raise InputError(f'{osp.join(detail_dir, name)}: not a detail record')
            records.append(rec)
    return records


def merge_patches(coarse_json: str, gt_json: str, probs_pkl: str, data_dir: str,
                  out_json: str, mode: str = 'val', num_proc: int = 1,
                  progress: bool = True, min_part: int = 0) -> List[dict]:
    """Reassemble the refined patches of ``tools/test.py`` into instance masks.

    ``probs_pkl`` holds one probability map per patch of ``data_dir/img_dir/mode`` in sorted
    file-name order. Instances without patches keep their coarse mask. ``min_part``: specks
    and pinholes smaller than this (px) that refining made are removed (0: as the original).
    """
    gt = load_gt(gt_json)
    results = load_results(coarse_json, gt, gt_json)
    with open(probs_pkl, 'rb') as f:
        probs = pickle.load(f)
    names = sorted(f[:-4] for f in os.listdir(osp.join(data_dir, 'img_dir', mode))
                   if f.endswith('.png'))
    if len(names) != len(probs):
        raise InputError(f'{probs_pkl}: {len(probs)} patch outputs for {len(names)} patches '
                         f'in {osp.join(data_dir, "img_dir", mode)}')
    index = {n: i for i, n in enumerate(names)}
    jobs = []
    for rec in load_details(osp.join(data_dir, 'detail_dir', mode)):
        i = rec['inst_id']
        if i >= len(results):
            raise InputError(f'{data_dir}: instance {i} is not in {coarse_json}')
        missing = [n for n in rec['patches'] if n not in index]
        if missing:
            raise InputError(f'{data_dir}: patch {missing[0]} of instance {i} has no image')
        p = np.stack([probs[index[n]] for n in rec['patches']]) if rec['patches'] else \
            np.zeros((0, 1, 1), np.float32)
        jobs.append((results[i]['segmentation'], rec, p, f'{coarse_json} result [{i}]'))
    out = [dict(r) for r in results]
    refined = parallel_map(partial(_merge_instance, min_part=min_part), jobs, num_proc, 'merge',
                           progress)
    for (_, rec, _, _), rle in zip(jobs, refined):
        out[rec['inst_id']]['segmentation'] = rle
    dump_json(out, out_json)
    return out


def _merge_instance(job, min_part: int = 0) -> dict:
    segm, rec, probs, where = job
    coarse = decode(segm, rec['height'], rec['width'], where=where)
    boxes = np.asarray(rec['boxes'], np.int64).reshape(-1, 4)
    return encode(reassemble_instance(coarse, InstancePatches(boxes), probs, rec['padding'],
                                      min_part))
