"""Reading checkpoints written by mmcv 1.x under older torch releases."""
import os.path as osp
import pickle
import warnings

import torch
from mmcv.runner import CheckpointLoader


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location=None):
    """mmcv's local loader, made to work with ``torch.load(weights_only=True)`` by default.

    Released BPR checkpoints were saved by mmcv 1.x on torch 1.x; some hold plain Python or
    NumPy objects in their ``meta`` that the safe unpickler of torch >= 2.6 refuses. Those are
    read again with full unpickling, with a warning (only load checkpoints you trust).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        warnings.warn(f'{filename}: {str(err).splitlines()[0]} Loading it with '
                      'weights_only=False: only do so for checkpoints you trust.')
        return torch.load(filename, map_location=map_location, weights_only=False)
