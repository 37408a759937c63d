"""mmcv 1.7 on torch 2.x: the scatter adapter, the distributed wrapper's forward, and an
environment report that cannot crash."""
import os
import subprocess
import sys

import torch
from torch.nn.parallel import _functions as torch_functions

import bpr  # noqa: F401
from bpr.apis.env import collect_env
from bpr.compat import _takes_device, patch_mmcv_ddp_forward, patch_mmcv_scatter
from helpers import ROOT

PROBE = 'from mmcv.parallel._functions import _get_stream; print(_get_stream(0), _get_stream(-1))'


def _python(code):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))


def test_stock_mmcv_scatter_fails_on_this_torch_and_bpr_fixes_it():
    assert _takes_device(torch_functions._get_stream)  # torch >= 2.1: the fix is needed
    stock = _python(PROBE)
    assert stock.returncode != 0 and "'int' object has no attribute 'type'" in stock.stderr
    fixed = _python('import bpr; ' + PROBE)
    assert fixed.returncode == 0, fixed.stderr
    if not torch.cuda.is_available():  # no stream without a GPU, for an index or a device
        assert fixed.stdout.split() == ['None', 'None']
    # stock mmseg tools get it through the configs' custom_imports
    via_config = _python('from mmcv import Config; Config.fromfile("configs/bpr/hrnet18s_128.py")'
                         '; ' + PROBE)
    assert via_config.returncode == 0, via_config.stderr


def test_patch_is_idempotent_and_accepts_devices():
    from mmcv.parallel import _functions
    assert patch_mmcv_scatter() is False  # applied once, at import
    adapter = _functions._get_stream
    assert adapter.__wrapped__ is torch_functions._get_stream
    assert adapter(-1) is None
    assert adapter(torch.device('cpu')) is None


# a plain forward through MMDistributedDataParallel, as the validation hook of distributed
# training calls it (one gloo process, on the CPU)
DDP_PROBE = """
import torch, torch.distributed as dist
from mmcv.parallel import MMDistributedDataParallel
dist.init_process_group('gloo', store=dist.HashStore(), rank=0, world_size=1)
print(tuple(MMDistributedDataParallel(torch.nn.Linear(2, 3))(torch.ones(4, 2)).shape))
"""


def test_stock_mmcv_ddp_forward_fails_on_this_torch_and_bpr_fixes_it():
    stock = _python(DDP_PROBE)
    assert stock.returncode != 0 and '_use_replicated_tensor_module' in stock.stderr
    fixed = _python('import bpr' + DDP_PROBE)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.split() == ['(4,', '3)']
    assert patch_mmcv_ddp_forward() is False  # applied once, at import


def test_environment_report_survives_a_crashing_probe():
    report = collect_env()
    assert 'MMSegmentation' in report and 'PyTorch' in report and 'Full report' not in report
    crash = 'import os, signal; os.kill(os.getpid(), signal.SIGSEGV)'
    report = collect_env(probe=crash)
    assert report['PyTorch'] == torch.__version__
    assert report['Full report'] == f'not collected (its probe failed: exit status -{11})'
    assert 'not collected' in collect_env(probe='import time; time.sleep(5)', timeout=0.5)[
        'Full report']
