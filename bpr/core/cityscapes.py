"""Cityscapes forms: instance-results folders (txt + PNG) and gtFine, to and from COCO form."""
import glob
import os
import os.path as osp
from collections import defaultdict
from typing import List, Optional

import mmcv
import numpy as np
from cityscapesscripts.helpers.labels import id2label, name2label

from .io import InputError
from .masks import decode, encode, foreground_box, paste_box
from .parallel import parallel_map

PRED_SUFFIX = '_leftImg8bit_pred.txt'
IMG_SUFFIX = '_leftImg8bit.png'
CLASSES = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')


def _category_maps(gt: dict):
    """label id -> GT category id, and back, through the category names."""
    by_name = {c['name']: c['id'] for c in gt.get('categories', [])}
    to_cat = {lid: by_name[lab.name] for lid, lab in id2label.items() if lab.name in by_name}
    return to_cat, {cat: lid for lid, cat in to_cat.items()}


def _stem(file_name: str) -> str:
    base = osp.basename(file_name)
    return base[:-len(IMG_SUFFIX)] if base.endswith(IMG_SUFFIX) else osp.splitext(base)[0]


def _read_pred_txt(job) -> List[dict]:
    """Results of one image's ``*_leftImg8bit_pred.txt``."""
    img, txt, pred_dir, to_cat = job
    with open(txt) as f:
        lines = f.read().splitlines()
    results = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 3:
                raise ValueError
            png, label_id, score = parts[0], int(parts[1]), float(parts[2])
        except ValueError:
            raise InputError(f'{txt}:{n}: expected "<mask png> <label id> <score>", '
                             f'got {line!r}') from None
        if label_id not in to_cat:
            raise InputError(f'{txt}:{n}: label id {label_id} is no category of the GT')
        path = osp.join(pred_dir, png)
        mask = mmcv.imread(path, 'unchanged') if osp.isfile(path) else None
        if mask is None:
            raise InputError(f'{path}: mask PNG missing or unreadable ({txt}:{n})')
        if mask.shape[:2] != (img['height'], img['width']):
            raise InputError(f'{path}: mask of size {mask.shape[1]}x{mask.shape[0]}, '
                             f'image is {img["width"]}x{img["height"]}')
        if mask.ndim == 3:
            mask = mask.any(axis=2)
        results.append(dict(image_id=img['id'], category_id=to_cat[label_id], score=score,
                            segmentation=encode(mask), cityscapes_mask=png))
    return results


def cityscapes_to_coco(pred_dir: str, gt: dict, num_proc: int = 1,
                       progress: bool = True) -> List[dict]:
    """COCO-form results of a cityscapesScripts results folder (``*_leftImg8bit_pred.txt``).

    Each result keeps its mask file name in ``cityscapes_mask`` so that the way back is
    lossless. Images are visited in the ground truth's order, lines in file order.
    """
    known = {_stem(img['file_name']) for img in gt['images']}
    for txt in sorted(glob.glob(osp.join(pred_dir, '*' + PRED_SUFFIX))):
        if osp.basename(txt)[:-len(PRED_SUFFIX)] not in known:
            raise InputError(f'{txt}: no image of that name in the ground truth')
    to_cat, _ = _category_maps(gt)
    jobs = [(img, osp.join(pred_dir, _stem(img['file_name']) + PRED_SUFFIX), pred_dir, to_cat)
            for img in gt['images']]
    jobs = [job for job in jobs if osp.isfile(job[1])]
    parts = parallel_map(_read_pred_txt, jobs, num_proc, 'read results', progress)
    return [res for part in parts for res in part]


def _write_pred_txt(job) -> None:
    img, group, names, to_label, out_dir = job
    lines = []
    for res, png in zip(group, names):
        label_id = to_label[res['category_id']]
        mask = decode(res['segmentation'], img['height'], img['width'])
        path = osp.join(out_dir, png)
        os.makedirs(osp.dirname(path), exist_ok=True)
        mmcv.imwrite(paste_box(mask, 255), path)
        lines.append(f'{png} {label_id} {res["score"]!r}\n')
    with open(osp.join(out_dir, _stem(img['file_name']) + PRED_SUFFIX), 'w') as f:
        f.writelines(lines)


def safe_name(name: str) -> Optional[str]:
    """``name`` as a relative path that stays inside its folder (``None`` if it leaves it:
    absolute, or going up with ``..``)."""
    if not isinstance(name, str) or not name or osp.isabs(name) or '\\' in name:
        return None
    norm = osp.normpath(name)
    return None if norm in ('.', '..') or norm.startswith('../') else norm


def mask_names(results: List[dict], images: dict, to_label: dict) -> List[str]:
    """The mask PNG name of each result, relative to the output folder: its original
    ``cityscapes_mask`` when that stays inside the folder, else a new one; names that
    would be written twice, or over a ``*_pred.txt``, are refused."""
    names, seen, counters = [], {}, defaultdict(int)
    for i, res in enumerate(results):
        img = images[res['image_id']]
        stem = _stem(img['file_name'])
        k = counters[res['image_id']]
        counters[res['image_id']] += 1
        name = safe_name(res.get('cityscapes_mask'))
        if name is None:
            label = id2label[to_label[res['category_id']]].name
            name = f'{stem}_leftImg8bit_{k}_{label}.png'
        if name in seen or name.endswith(PRED_SUFFIX):
            raise InputError(f'result [{i}]: mask file {name} would overwrite the one of result '
                             f'[{seen.get(name, "txt")}]')
        seen[name] = i
        names.append(name)
    return names


def coco_to_cityscapes(results: List[dict], gt: dict, out_dir: str, num_proc: int = 1,
                       progress: bool = True) -> None:
    """Write COCO-form results as a cityscapesScripts results folder.

    Every file lands inside ``out_dir``: mask names that would leave it are replaced; names
    are checked before anything is written.
    """
    _, to_label = _category_maps(gt)
    missing = {r['category_id'] for r in results} - set(to_label)
    if missing:
        raise InputError(f'categories {sorted(missing)} have no Cityscapes label id')
    images = {img['id']: img for img in gt['images']}
    names = mask_names(results, images, to_label)
    by_image = defaultdict(list)
    for res, name in zip(results, names):
        by_image[res['image_id']].append((res, name))
    os.makedirs(out_dir, exist_ok=True)
    jobs = [(images[i], [r for r, _ in group], [n for _, n in group], to_label, out_dir)
            for i, group in by_image.items()]
    parallel_map(_write_pred_txt, jobs, num_proc, 'write results', progress)


def _read_instance_ids(path: str):
    inst = mmcv.imread(path, 'unchanged')
    if inst is None:
        raise InputError(f'{path}: not a readable PNG')
    anns = []
    for inst_id in np.unique(inst):
        if inst_id < 1000 or inst_id // 1000 not in _CAT_OF_LABEL:
            continue  # stuff, or a crowd group (id < 1000)
        mask = inst == inst_id
        rows, cols = foreground_box(mask)
        anns.append(dict(category_id=_CAT_OF_LABEL[inst_id // 1000], segmentation=encode(mask),
                         area=int(mask[rows, cols].sum()), iscrowd=0,
                         bbox=[cols.start, rows.start, cols.stop - cols.start,
                               rows.stop - rows.start]))
    return inst.shape[:2], anns


_CAT_OF_LABEL = {name2label[n].id: i + 1 for i, n in enumerate(CLASSES)}


def gtfine_to_coco(gtfine_dir: str, split: str, num_proc: int = 1,
                   progress: bool = True) -> dict:
    """``instancesonly_filtered_gtFine_{split}.json`` content from ``gtFine/{split}``.

    Same layout as mmdetection's Cityscapes converter: images ``<city>/<stem>_leftImg8bit.png``,
    8 categories (ids 1..8), one RLE annotation per instance id >= 1000 (crowd groups dropped).
    """
    files = sorted(glob.glob(osp.join(gtfine_dir, split, '*', '*_gtFine_instanceIds.png')))
    if not files:
        raise InputError(f'{osp.join(gtfine_dir, split)}: no *_gtFine_instanceIds.png found')
    images, annotations = [], []
    parts = parallel_map(_read_instance_ids, files, num_proc, f'gtFine {split}', progress)
    for image_id, (path, ((h, w), anns)) in enumerate(zip(files, parts)):
        city = osp.basename(osp.dirname(path))
        stem = osp.basename(path)[:-len('_gtFine_instanceIds.png')]
        images.append(dict(id=image_id, file_name=f'{city}/{stem}{IMG_SUFFIX}', height=h,
                           width=w, segm_file=f'{city}/{osp.basename(path)}'))
        annotations.extend(dict(ann, id=len(annotations) + k + 1, image_id=image_id)
                           for k, ann in enumerate(anns))
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    return dict(images=images, annotations=annotations, categories=categories)
