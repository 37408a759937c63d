"""Checkpoints that run no code: ``torch.load(weights_only=True)`` with NumPy allowed.

Released BPR checkpoints were saved by mmcv 1.x on torch 1.x and may hold NumPy scalars and
arrays (seeds, scores) in their ``meta``. Those few NumPy types are allowed explicitly, for
this loader only; anything else a pickle names (a function to call, an arbitrary class) is
refused with one line naming the file and the type. ``BPR_UNSAFE_CHECKPOINTS=1`` lifts the
check for checkpoints you trust.
"""
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import torch
from mmcv.runner import CheckpointLoader

from .io import InputError

UNSAFE_ENV = 'BPR_UNSAFE_CHECKPOINTS'


def _numpy_globals() -> List[Tuple[object, str]]:
    """NumPy's pickle entry points under the names of NumPy 1.x (``numpy.core``) and 2.x
    (``numpy._core``), plus its dtype classes: data, not code."""
    core = getattr(np, '_core', None) or np.core
    entries = []
    for fn in (core.multiarray.scalar, core.multiarray._reconstruct):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            entries.append((fn, f'{module}.{fn.__name__}'))
    entries += [(np.ndarray, 'numpy.ndarray'), (np.dtype, 'numpy.dtype')]
    dtypes = getattr(np, 'dtypes', None)  # NumPy >= 1.25
    for name in dir(dtypes) if dtypes is not None else ():
        cls = getattr(dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            entries.append((cls, f'numpy.dtypes.{name}'))
    return entries


def unsafe_allowed() -> bool:
    return os.environ.get(UNSAFE_ENV, '') not in ('', '0')


def _reason(err: Exception) -> str:
    """The gist of torch's multi-paragraph unpickling errors, on one short line."""
    text = str(err)
    found = re.search(r'GLOBAL (\S+)', text) or re.search(r'WeightsUnpickler error:\s*([^\n]+)',
                                                          text)
    if found:
        return found.group(1).strip()
    lines = text.strip().splitlines()
    return lines[0].split('. ')[0][:120] if lines else type(err).__name__


def load_file(filename: str, map_location=None):
    """The object saved in ``filename``, loaded with ``weights_only=True`` (NumPy data
    allowed); :class:`InputError` naming the file when it is missing, not a checkpoint, or
    would need code to load (unless ``BPR_UNSAFE_CHECKPOINTS=1``)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise InputError(f'{filename}: checkpoint file not found')
    if osp.getsize(filename) == 0:
        raise InputError(f'{filename}: empty file, not a checkpoint')
    try:
        if unsafe_allowed():
            return torch.load(filename, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'GLOBAL' in str(err):
            raise InputError(
                f'{filename}: refused, loading it would call {_reason(err)} (a checkpoint '
                f'holds only tensors and plain data; if you trust this file, set '
                f'{UNSAFE_ENV}=1)') from None
        raise InputError(f'{filename}: not a checkpoint ({_why(filename, err)})') from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, KeyError) as err:
        raise InputError(f'{filename}: not a checkpoint ({_why(filename, err)})') from None


def _why(filename: str, err: Exception) -> str:
    """Why ``filename`` did not load: a file that is neither of torch's two formats (a zip
    archive, or the legacy pickle) is said to be so rather than by the unpickler's opcode."""
    with open(filename, 'rb') as f:
        head = f.read(2)
    return _reason(err) if head == b'PK' or head[:1] == b'\x80' else 'not a PyTorch file'


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename, map_location=None):
    """mmcv's loader of local files (``load_checkpoint``, ``--load-from``, ``--resume-from``):
    :func:`load_file`, which is at least as strict as mmcv's own on torch >= 2.6."""
    return load_file(filename, map_location)


def state_dict_of(checkpoint) -> dict:
    """The state dict of a loaded checkpoint (``state_dict`` or ``model`` entry, or the
    checkpoint itself), ``module.`` prefixes of (Distributed)DataParallel removed."""
    state = checkpoint
    if isinstance(checkpoint, dict):
        state = checkpoint.get('state_dict', checkpoint.get('model', checkpoint))
    if not isinstance(state, dict):
        return {}
    return {re.sub(r'^module\.', '', k): v for k, v in state.items()}


def _examples(keys: Iterator[str], count: int = 3) -> str:
    keys = sorted(keys)
    more = ', ...' if len(keys) > count else ''
    return ', '.join(keys[:count]) + more


def load_weights(model: torch.nn.Module, filename: str) -> dict:
    """Load ``filename`` into ``model`` strictly; return the checkpoint.

    A checkpoint of another model is refused with one line: how many keys are missing or
    unexpected, or of another shape, with examples.
    """
    checkpoint = load_file(filename, map_location='cpu')
    state = state_dict_of(checkpoint)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    expected = model.state_dict()
    missing = expected.keys() - tensors.keys()
    unexpected = tensors.keys() - expected.keys()
    reshaped = [k for k in expected.keys() & tensors.keys()
                if expected[k].shape != tensors[k].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys, e.g. {_examples(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys, e.g. {_examples(unexpected)}')
    if reshaped:
        k = sorted(reshaped)[0]
        problems.append(f'{len(reshaped)} keys of another shape, e.g. {k} '
                        f'{tuple(tensors[k].shape)} instead of {tuple(expected[k].shape)}')
    if problems:
        raise InputError(f'{filename}: not a checkpoint of this model: ' + '; '.join(problems))
    model.load_state_dict(tensors, strict=True)
    return checkpoint


def _check_same_network(first: dict, other: dict, other_name: str, first_name: str) -> None:
    if first.keys() != other.keys() or any(first[k].shape != other[k].shape for k in first):
        raise InputError(f'{other_name}: not the same network as {first_name}')


def average_weights(states: Sequence[dict], names: Sequence[str]) -> dict:
    """The mean of several state dicts' floating tensors, the first's for the rest
    (BatchNorm counters): a uniform model soup (Wortsman et al., ICML 2022) of runs
    fine-tuned from the same start. :class:`InputError` naming the file (``names``) that is
    not the same network as the first."""
    if not states:
        raise ValueError('no state dicts to average')
    first = states[0]
    for state, name in zip(states[1:], names[1:]):
        _check_same_network(first, state, name, names[0])
    return {k: (sum(s[k].float() for s in states) / len(states)).to(v.dtype)
            if v.is_floating_point() else v for k, v in first.items()}


def interpolate_weights(base: dict, tuned: dict, alpha: float, base_name: str = 'base') -> dict:
    """``(1 - alpha) * base + alpha * tuned`` for floating tensors, ``tuned``'s for the rest
    (BatchNorm counters): the weight-space ensemble of a model and its fine-tuned copy
    (WiSE-FT, Wortsman et al., CVPR 2022), which keeps what the fine-tuning would forget.
    :class:`InputError` naming ``base_name`` when the two are not the same network."""
    if not 0 <= alpha <= 1:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    _check_same_network(tuned, base, base_name, 'the fine-tuned checkpoint')
    return {k: (base[k].float() * (1 - alpha) + v.float() * alpha).to(v.dtype)
            if v.is_floating_point() else v for k, v in tuned.items()}


# the settings of a training run that name its machine's folders rather than the model
# (``checkpoint``: a distillation teacher's file)
_RUN_PATHS = re.compile(
    r"\b(data_root|work_dir|load_from|resume_from|checkpoint)(\s*=\s*)'(/[^']*)'")


def portable_config(text: str) -> str:
    """A training config's text (a checkpoint's ``meta['config']``) with the absolute paths
    of its run (patches, work dir, start and teacher checkpoints) cut to their last component,
    so that a released checkpoint names no folder of the machine that trained it."""
    return _RUN_PATHS.sub(lambda m: f"{m[1]}{m[2]}'{osp.basename(m[3].rstrip('/'))}'", text)
