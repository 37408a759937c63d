"""Mixed-precision training with ``torch.autocast``, on GPUs and on CPUs.

mmcv 1.7's ``Fp16OptimizerHook`` is built on ``torch.cuda.amp`` (CUDA and float16 only).
:class:`AmpOptimizerHook` autocasts on the device the model is on: in
bfloat16 (CPU or GPU, no loss scaling needed) or float16 (GPU, dynamic loss scaling)::

    optimizer_config = dict(type='AmpOptimizerHook', dtype='bfloat16')

bfloat16 pays on CPUs that compute in it (AVX512-BF16 or AMX); on others autocast is slower
than float32, and ``dtype='float32'`` (``--cfg-options optimizer_config.dtype=float32``) turns
it off without editing the config. The weights, their gradients, the optimizer state and the
loss stay float32, so checkpoints are the same as those of float32 training.
"""
import platform
import warnings
from typing import Optional, Union

import torch
from mmcv.parallel import is_module_wrapper
from mmcv.runner import HOOKS, Fp16OptimizerHook, OptimizerHook

AMP_DTYPES = {'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16,
              'float16': torch.float16, 'fp16': torch.float16,
              'float32': None, 'fp32': None}  # float32: no autocast


def cpu_computes_bfloat16() -> Optional[bool]:
    """Whether this x86 CPU has native bfloat16 arithmetic (None: not x86, or this torch
    cannot tell)."""
    if platform.machine().lower() not in ('x86_64', 'amd64'):
        return None  # torch's probes are for x86 extensions only
    probes = [getattr(torch.cpu, name, None)
              for name in ('_is_avx512_bf16_supported', '_is_amx_tile_supported')]
    if not all(probes):
        return None
    return any(probe() for probe in probes)


@HOOKS.register_module()
class AmpOptimizerHook(Fp16OptimizerHook):
    """``OptimizerHook`` whose model runs its training forward under ``torch.autocast``.

    Args:
        dtype: ``'bfloat16'`` (CPU, or a GPU that computes in it), ``'float16'`` (GPU) or
            ``'float32'`` (no autocast: plain ``OptimizerHook``).
        loss_scale: float16 only, as mmcv's ``Fp16OptimizerHook`` takes it (``'dynamic'``, a
            fixed number, or a dict of ``GradScaler`` arguments), whose loss scaling and
            optimizer step this hook uses for float16.
        grad_clip: as ``OptimizerHook``.

    The segmentor must have an ``amp_dtype`` attribute that its ``forward_train`` autocasts
    to (``EncoderDecoderRefine`` has); mmcv's ``wrap_fp16_model`` (float16 inputs, CUDA
    autocast) is not used.
    """

    def __init__(self, dtype: str = 'bfloat16', loss_scale: Union[str, float, dict] = 'dynamic',
                 grad_clip: Optional[dict] = None):
        if dtype not in AMP_DTYPES:
            raise ValueError(f'AmpOptimizerHook: dtype {dtype!r} is not one of '
                             f'{", ".join(AMP_DTYPES)}')
        self.dtype = AMP_DTYPES[dtype]
        if self.dtype == torch.float16:
            with warnings.catch_warnings():
                # mmcv builds torch.cuda.amp.GradScaler, deprecated (torch >= 2.4) for the
                # same class under torch.amp: the warning would reach every float16 run
                warnings.simplefilter('ignore', FutureWarning)
                super().__init__(grad_clip=grad_clip, loss_scale=loss_scale)
        else:  # bfloat16 has float32's range, float32 is float32: no loss scaling
            OptimizerHook.__init__(self, grad_clip)
            self.loss_scaler = None

    def before_run(self, runner) -> None:
        model = runner.model.module if is_module_wrapper(runner.model) else runner.model
        if not hasattr(model, 'amp_dtype'):
            raise TypeError(f'AmpOptimizerHook: {type(model).__name__} has no amp_dtype '
                            'attribute to autocast its forward with (use EncoderDecoderRefine)')
        device = next(model.parameters()).device
        if self.dtype == torch.float16 and device.type != 'cuda':
            raise ValueError(f'AmpOptimizerHook: float16 training needs a CUDA GPU, the '
                             f"model is on {device}; use dtype='bfloat16' there")
        if self.dtype == torch.bfloat16 and device.type == 'cuda' \
                and not torch.cuda.is_bf16_supported():
            raise ValueError(f'AmpOptimizerHook: {torch.cuda.get_device_name(device)} does not '
                             "compute in bfloat16; use dtype='float16'")
        if self.dtype == torch.bfloat16 and device.type == 'cpu' \
                and cpu_computes_bfloat16() is False:
            msg = ('AmpOptimizerHook: this CPU has no native bfloat16 (AVX512-BF16 or AMX), '
                   'where bfloat16 autocast trains slower than float32 (2.9x slower on one '
                   'such CPU); --cfg-options optimizer_config.dtype=float32 turns it off')
            warnings.warn(msg)
            runner.logger.warning(msg)
        if self.loss_scaler is not None and 'loss_scaler' in (runner.meta or {}).get('fp16', {}):
            self.loss_scaler.load_state_dict(runner.meta['fp16']['loss_scaler'])
        model.amp_dtype = self.dtype
        if self.dtype is None:
            runner.logger.info(f'float32 training on {device.type}: no autocast')
        else:
            runner.logger.info(f'mixed-precision training: autocast to {self.dtype} on '
                               f'{device.type}' + (', loss scaling' if self.loss_scaler else ''))

    def after_train_iter(self, runner) -> None:
        if self.loss_scaler is None:
            OptimizerHook.after_train_iter(self, runner)
        else:
            super().after_train_iter(runner)
