"""torch.distributed set-up that also works on machines without a GPU."""
import atexit
import os

import torch
import torch.distributed as dist
from mmcv.parallel import scatter


def init_dist(backend: str = None) -> str:
    """Join the process group of a ``torchrun`` launch; return the device of this process.

    mmcv's ``init_dist`` assumes one GPU per process. Here a process takes its GPU (nccl) when
    there is one and runs on the CPU (gloo) otherwise.
    """
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = f'cuda:{torch.cuda.current_device()}'
    else:
        device = 'cpu'
        # Processes share the cores: one thread each unless told otherwise.
        if 'OMP_NUM_THREADS' not in os.environ:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get(
                'LOCAL_WORLD_SIZE', 1))))
    if not dist.is_initialized():
        dist.init_process_group(backend or ('nccl' if device != 'cpu' else 'gloo'))
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
