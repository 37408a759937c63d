"""BPR: Boundary Patch Refinement for instance segmentation, on mmsegmentation.

Importing the package registers ``HRNetRefine`` (BACKBONES), ``EncoderDecoderRefine`` and
``DistillEncoderDecoderRefine`` (SEGMENTORS), ``OutlineWeightSampler`` (PIXEL_SAMPLERS),
``RefineDataset`` (DATASETS) and ``LoadCoarseMask`` (PIPELINES) in mmseg's registries and
``AmpOptimizerHook`` (mixed-precision training) and ``TimeBudgetHook`` (a run fitted to a
time limit) in mmcv's HOOKS, and adapts mmcv 1.7's data-parallel wrappers to torch 2.x
(:mod:`bpr.compat`).
"""
from . import compat

compat.quiet_import_mmcv()
compat.patch_mmcv()

from . import core, datasets, models  # noqa: E402, F401  (registration)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
