"""torch.distributed set-up that also works on machines without a GPU, under torchrun or
SLURM."""
import atexit
import os
import re
import subprocess
from typing import Mapping

import torch
import torch.distributed as dist
from mmcv.parallel import scatter

from ..core.io import InputError
from .inference import check_device


LAUNCHERS = ('none', 'pytorch', 'slurm')


def first_host(nodelist: str) -> str:
    """The first host name of a SLURM node list (``node[03-05,9],gpu1`` -> ``node03``), from
    ``scontrol`` where there is one, else parsed."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostnames', nodelist], capture_output=True,
                             text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.split()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    head = re.match(r'([^,\[]+)(?:\[([^\]]+)\])?', nodelist.strip())
    if head is None:
        raise ValueError(f'SLURM_NODELIST {nodelist!r}: no host in it')
    prefix, ranges = head.groups()
    return prefix + (re.split(r'[-,]', ranges)[0] if ranges else '')


def slurm_env(environ: Mapping[str, str] = os.environ) -> dict:
    """The variables of torch's ``env://`` rendezvous for a task started by ``srun`` (one task
    per GPU, as mmsegmentation's ``slurm_train.sh``): ranks from SLURM's, the first node as
    master, ``MASTER_PORT`` (or ``PORT``, default 29500) as port."""
    ntasks = int(environ['SLURM_NTASKS'])
    per_node = environ.get('SLURM_NTASKS_PER_NODE') or environ.get('SLURM_TASKS_PER_NODE', '1')
    return dict(
        RANK=environ['SLURM_PROCID'], WORLD_SIZE=str(ntasks),
        LOCAL_RANK=environ.get('SLURM_LOCALID', '0'),
        LOCAL_WORLD_SIZE=re.match(r'\d+', per_node).group(0),
        MASTER_ADDR=environ.get('MASTER_ADDR') or first_host(environ['SLURM_NODELIST']),
        MASTER_PORT=environ.get('MASTER_PORT') or environ.get('PORT') or '29500')


def init_dist(backend: str = None, launcher: str = 'pytorch', device: str = None) -> str:
    """Join the process group of a ``torchrun`` (``launcher='pytorch'``) or ``srun``
    (``'slurm'``) launch; return the device of this process.

    mmcv's ``init_dist`` assumes one GPU per process. Here a process takes its GPU when there
    is one and runs on the CPU (gloo) otherwise; ``device`` ``'cpu'`` or ``'cuda'`` chooses
    instead (the GPU is always the local rank's). ``backend`` is the GPUs' (default nccl).
    """
    kind = None if device is None else torch.device(device)
    if kind is not None:
        if kind.type not in ('cpu', 'cuda') or kind.index is not None:
            raise InputError(f'device {device!r} with a launcher: cpu or cuda (each process '
                             'takes the GPU of its local rank)')
        check_device(device)
    use_gpu = torch.cuda.is_available() if kind is None else kind.type == 'cuda'
    if launcher == 'slurm':
        os.environ.update(slurm_env())
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if use_gpu:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = f'cuda:{torch.cuda.current_device()}'
    else:
        device = 'cpu'
        # Processes share the cores: one thread each unless told otherwise.
        if 'OMP_NUM_THREADS' not in os.environ:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get(
                'LOCAL_WORLD_SIZE', 1))))
    if not dist.is_initialized():
        dist.init_process_group((backend or 'nccl') if use_gpu else 'gloo')
        # A process group still alive at interpreter exit can abort the process ("terminate
        # called without an active exception") after all its work is done.
        atexit.register(_destroy_process_group)
    return device


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


class CPUDistributedDataParallel(torch.nn.parallel.DistributedDataParallel):
    """DDP for mmcv 1.x runners on CPU processes.

    mmcv's ``MMDistributedDataParallel`` scatters DataContainers only to GPUs. Here the batch is
    unpacked on the CPU and goes through DDP's own ``forward``, so gradient synchronisation is
    torch's, whatever its version.
    """

    def _unpack(self, data_batch):
        return scatter(data_batch, [-1])[0]

    def train_step(self, data_batch, optimizer=None, **kwargs):
        data = self._unpack(data_batch)
        losses = self(**data)
        loss, log_vars = self.module._parse_losses(losses)
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data['img_metas']))

    def val_step(self, data_batch, optimizer=None, **kwargs):
        return self.train_step(data_batch, optimizer, **kwargs)
