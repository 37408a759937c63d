"""The environment report of training logs, collected where it cannot crash the run."""
import json
import platform
import subprocess
import sys
from collections import OrderedDict

import torch

# mmseg's report probes mmcv's compiled ops (compiler and CUDA versions); such a probe can
# segfault on a build it does not expect, so it runs in a child process.
PROBE = ('import json; from mmseg.utils import collect_env; '
         'print(json.dumps({k: str(v) for k, v in collect_env().items()}))')


def collect_env(probe: str = PROBE, timeout: float = 120) -> 'OrderedDict[str, str]':
    """mmseg's ``collect_env()``, run in a child process; if that fails (crash, timeout,
    anything), a short report from this process with the reason."""
    try:
        proc = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode == 0:
            return OrderedDict(json.loads(proc.stdout.strip().splitlines()[-1]))
        reason = f'exit status {proc.returncode}'
    except (OSError, ValueError, IndexError, subprocess.SubprocessError) as err:
        reason = type(err).__name__
    import mmcv
    import mmseg
    return OrderedDict([
        ('sys.platform', sys.platform), ('Python', sys.version.replace('\n', '')),
        ('CUDA available', str(torch.cuda.is_available())),
        ('PyTorch', torch.__version__), ('PyTorch CUDA', str(torch.version.cuda)),
        ('MMCV', mmcv.__version__), ('MMSegmentation', mmseg.__version__),
        ('Machine', platform.machine()),
        ('Full report', f'not collected (its probe failed: {reason})'),
    ])
