from .loading import LoadCoarseMask
from .refine_dataset import DataRootError, RefineDataset, check_patch_folders

__all__ = ['RefineDataset', 'LoadCoarseMask', 'DataRootError', 'check_patch_folders']
