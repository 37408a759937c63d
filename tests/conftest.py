import os
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(__file__))
os.environ.setdefault('OMP_NUM_THREADS', '1')

from helpers import make_coco  # noqa: E402


@pytest.fixture(scope='session')
def coco(tmp_path_factory):
    """Three generated images (one smaller than a patch) with GT and coarse results."""
    return make_coco(tmp_path_factory.mktemp('coco'))


@pytest.fixture(scope='session')
def patches(coco, tmp_path_factory):
    """A patch dataset (train and val splits) cut from ``coco``."""
    from bpr.apis.patch_dataset import split_patches
    from bpr.core import PatchConfig
    out = str(tmp_path_factory.mktemp('patches'))
    cfg = PatchConfig(32, 0, 0.25)
    for mode in ('train', 'val'):
        split_patches(coco['coarse'], coco['gt'], coco['img_dir'], out, mode, cfg,
                      progress=False)
    return out
