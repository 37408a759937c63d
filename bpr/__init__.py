"""BPR: Boundary Patch Refinement for instance segmentation, on mmsegmentation.

Importing the package registers ``HRNetRefine`` (BACKBONES), ``EncoderDecoderRefine``
(SEGMENTORS), ``RefineDataset`` (DATASETS) and ``LoadCoarseMask`` (PIPELINES) in mmseg's
registries, and a checkpoint loader that reads checkpoints of older torch releases.
"""
from . import core, datasets, models  # noqa: F401  (registration)
from .version import __version__

__all__ = ['__version__']
