from .loading import LoadCoarseMask
from .refine_dataset import DataRootError, RefineDataset, check_patch_folders
from .transforms import ResizeExact, resize_nearest

__all__ = ['RefineDataset', 'LoadCoarseMask', 'ResizeExact', 'resize_nearest', 'DataRootError',
           'check_patch_folders']
