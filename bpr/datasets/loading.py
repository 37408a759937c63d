"""Pipeline step that loads the coarse-mask patch."""
import os.path as osp

import mmcv
import numpy as np
from mmseg.datasets.builder import PIPELINES


@PIPELINES.register_module()
class LoadCoarseMask:
    """Load ``mask_prefix/filename`` as a float32 mask with values in {-1, 1}.

    The mask is added to ``seg_fields`` so that ``ResizeExact``, ``RandomFlip`` and the
    other geometric steps treat it like the label map. Format it with
    ``ImageToTensor(keys=['coarse_mask'])`` (and ``ToDataContainer`` for training).
    """

    def __init__(self, file_client_args=dict(backend='disk')):
        self.file_client_args = file_client_args.copy()
        self.file_client = None

    def __call__(self, results):
        if self.file_client is None:
            self.file_client = mmcv.FileClient(**self.file_client_args)
        filename = osp.join(results['mask_prefix'], results['img_info']['filename'])
        mask = mmcv.imfrombytes(self.file_client.get(filename), flag='grayscale')
        results['coarse_mask'] = np.where(mask > 127, 1.0, -1.0).astype(np.float32)
        results['seg_fields'].append('coarse_mask')
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(file_client_args={self.file_client_args})'
