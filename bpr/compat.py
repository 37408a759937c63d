"""mmcv-full 1.7 on torch 2.x: the two incompatibilities on BPR's paths, fixed in memory.

- mmcv 1.7's ``Scatter`` (behind ``MMDataParallel`` and ``MMDistributedDataParallel``) calls
  torch's private ``_get_stream`` with a GPU index; since torch 2.1 that function takes a
  ``torch.device`` and fails on an int (``'int' object has no attribute 'type'``), so training
  on a GPU never starts.
- ``MMDistributedDataParallel._run_ddp_forward`` (a plain forward through the wrapper, as the
  validation hook of distributed training does) reads ``_use_replicated_tensor_module``, an
  attribute that torch 2.x's ``DistributedDataParallel`` no longer sets.

Importing ``bpr`` applies both (:func:`patch_mmcv`); site-packages are left untouched, and stock
mmseg tools get the fixes through ``custom_imports``.
"""
import argparse
import contextlib
import inspect
import io
import logging
import os
import sys
import warnings

import torch
from torch.nn.parallel import _functions as torch_functions


def _takes_device(fn) -> bool:
    param = inspect.signature(fn).parameters.get('device')
    return param is not None and param.annotation in (torch.device, 'torch.device')


def _stream_adapter(torch_get_stream):

    def _get_stream(device):
        """torch's ``_get_stream`` for a GPU index (mmcv 1.7) or a ``torch.device``."""
        if isinstance(device, int):
            if device < 0:  # mmcv's "CPU" device id
                return None
            device = torch.device('cuda', device)
        return torch_get_stream(device)

    _get_stream.__wrapped__ = torch_get_stream
    return _get_stream


def patch_mmcv_scatter() -> bool:
    """Make mmcv's ``Scatter`` work on this torch; return whether a patch was needed.

    Idempotent. On torch releases whose ``_get_stream`` still takes an int nothing changes.
    """
    from mmcv.parallel import _functions as mmcv_functions
    current = mmcv_functions._get_stream
    if hasattr(current, '__wrapped__') or not _takes_device(torch_functions._get_stream):
        return False
    mmcv_functions._get_stream = _stream_adapter(torch_functions._get_stream)
    return True


def patch_mmcv_ddp_forward() -> bool:
    """Give ``MMDistributedDataParallel`` a class-level ``_use_replicated_tensor_module =
    False``; return whether it was missing. Idempotent.

    A torch that still sets the attribute sets it on the instance, which takes precedence.
    """
    from mmcv.parallel import MMDistributedDataParallel
    name = '_use_replicated_tensor_module'
    if name in vars(MMDistributedDataParallel):
        return False
    setattr(MMDistributedDataParallel, name, False)  # torch < 2.0's own default
    return True


def patch_mmcv() -> None:
    """Both fixes (module docstring); called when ``bpr`` is imported."""
    patch_mmcv_scatter()
    patch_mmcv_ddp_forward()


SILENCED = []  # what quiet_import_mmcv kept from stderr


def verbose() -> bool:
    """``BPR_VERBOSE=1``: let third-party notices and torchrun's logs through."""
    return os.environ.get('BPR_VERBOSE', '') not in ('', '0')


class _Keep(logging.Handler):

    def emit(self, record):
        SILENCED.append(self.format(record))


def quiet_import_mmcv() -> None:
    """Import mmcv without the lines third-party code prints on import: torch's "No CUDA
    runtime is found" (a CUDA toolkit on a machine without a GPU) and mmcv's v2.0 notice.
    They are kept in ``SILENCED`` (the tools' ``--verbose`` prints them); ``BPR_VERBOSE=1``
    lets them through. Loggers and warning filters are restored afterwards."""
    if verbose():
        import mmcv  # noqa: F401
        return
    logger = logging.getLogger('torch.utils.cpp_extension')
    keep = _Keep()
    logger.addHandler(keep)
    propagate, logger.propagate = logger.propagate, False
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            import torch.utils.cpp_extension  # noqa: F401
            import mmcv  # noqa: F401
    finally:
        logger.removeHandler(keep)
        logger.propagate = propagate
    SILENCED.extend(line for line in stderr.getvalue().splitlines() if line.strip())
    SILENCED.extend(f'{w.category.__name__}: {w.message}' for w in caught)


def show_silenced() -> None:
    """Print what :func:`quiet_import_mmcv` kept from stderr."""
    for line in SILENCED:
        print(line, file=sys.stderr)


class ShowSilenced(argparse.Action):
    """The tools' ``--verbose``: print what the import kept back."""

    def __init__(self, option_strings, dest, **kwargs):
        kwargs.setdefault('help', 'also print the notices third-party packages print on import')
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, True)
        show_silenced()
