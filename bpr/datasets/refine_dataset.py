"""Dataset of boundary patches: image, coarse mask and ground truth, one PNG each."""
import os
import os.path as osp

import numpy as np
from mmseg.datasets import CustomDataset
from mmseg.datasets.builder import DATASETS


class DataRootError(FileNotFoundError):
    """The patch dataset on disk is missing or inconsistent."""


def _png_names(path: str) -> set:
    return {f for f in os.listdir(path) if f.endswith('.png')}


@DATASETS.register_module()
class RefineDataset(CustomDataset):
    """Patches written by ``tools/split_patches.py``.

    ``img_dir``, ``mask_dir`` and ``ann_dir`` hold PNGs of the same names: the image patch,
    the coarse-mask patch (0/255) and the ground-truth patch (0/255, mapped to labels 0/1).
    Checks on construction that the three folders exist and hold the same files.

    Args:
        mask_dir (str): Folder of the coarse-mask patches, relative to ``data_root``.
        **kwargs: Arguments of :class:`mmseg.datasets.CustomDataset`.
    """

    CLASSES = ('background', 'foreground')
    PALETTE = [[0, 0, 0], [255, 255, 255]]

    def __init__(self, mask_dir, img_suffix='.png', seg_map_suffix='.png', **kwargs):
        data_root = kwargs.get('data_root')
        check_patch_folders(kwargs['img_dir'], mask_dir, kwargs.get('ann_dir'), data_root)
        self.mask_dir = _under(data_root, mask_dir)
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def pre_pipeline(self, results):
        super().pre_pipeline(results)
        results['mask_prefix'] = self.mask_dir
        # Ground-truth patches are 0/255 images: 255 is foreground here, not "ignore".
        results['label_map'] = {255: 1}

    def pre_eval(self, preds, indices):
        """Accept foreground probabilities as well as label maps."""
        if not isinstance(preds, list):
            preds = [preds]
        preds = [(p > 0.5).astype(np.int64) if np.issubdtype(p.dtype, np.floating) else p
                 for p in preds]
        return super().pre_eval(preds, indices)


def _under(root, path):
    """``path`` under ``root`` unless absolute, as ``CustomDataset`` joins them."""
    return path if path is None or root is None or osp.isabs(path) else osp.join(root, path)


def check_patch_folders(img_dir, mask_dir, ann_dir=None, data_root=None):
    """Raise :class:`DataRootError` naming the path if the patch folders are unusable.

    Relative folders are taken under ``data_root``.
    """
    if data_root is not None and not osp.isdir(data_root):
        raise DataRootError(f'DATA_ROOT {data_root!r} is not a directory')
    img_dir = _under(data_root, img_dir)
    dirs = {'img_dir': img_dir, 'mask_dir': _under(data_root, mask_dir)}
    if ann_dir is not None:
        dirs['ann_dir'] = _under(data_root, ann_dir)
    names = {}
    for key, path in dirs.items():
        if not osp.isdir(path):
            raise DataRootError(f'{key} {path!r} does not exist (is DATA_ROOT right?)')
        names[key] = _png_names(path)
    if not names['img_dir']:
        raise DataRootError(f'img_dir {img_dir!r} holds no .png patches')
    for key in dirs:
        diff = names[key] ^ names['img_dir']
        if diff:
            example = sorted(diff)[0]
            raise DataRootError(
                f'{key} {dirs[key]!r} and img_dir {img_dir!r} disagree on {len(diff)} patch '
                f'file(s), e.g. {example!r}')
