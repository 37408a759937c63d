"""Mixed-precision training with ``torch.autocast``, on GPUs and on CPUs.

mmcv 1.7's ``Fp16OptimizerHook`` is built on ``torch.cuda.amp`` (CUDA and float16 only).
:class:`AmpOptimizerHook` autocasts on the device the model is on: in
bfloat16 (CPU or GPU, no loss scaling needed) or float16 (GPU, dynamic loss scaling)::

    optimizer_config = dict(type='AmpOptimizerHook', dtype='bfloat16')

The weights, their gradients, the optimizer state and the loss stay float32, so checkpoints
are the same as those of float32 training.
"""
from typing import Optional, Union

import torch
from mmcv.parallel import is_module_wrapper
from mmcv.runner import HOOKS, OptimizerHook

AMP_DTYPES = {'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16,
              'float16': torch.float16, 'fp16': torch.float16}


def grad_scaler(loss_scale: Union[str, float, dict]):
    """A CUDA ``GradScaler`` for ``loss_scale`` (as ``AmpOptimizerHook`` takes it)."""
    if loss_scale == 'dynamic':
        kwargs = {}
    elif isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
        # a fixed scale: it never grows, and is only lowered where gradients overflow
        kwargs = dict(init_scale=float(loss_scale), growth_interval=2**31 - 1)
    elif isinstance(loss_scale, dict):
        kwargs = dict(loss_scale)
    else:
        raise ValueError(f"AmpOptimizerHook: loss_scale must be 'dynamic', a number or a dict "
                         f'of GradScaler arguments, got {loss_scale!r}')
    if hasattr(torch.amp, 'GradScaler'):  # torch >= 2.3
        return torch.amp.GradScaler('cuda', **kwargs)
    return torch.cuda.amp.GradScaler(**kwargs)


@HOOKS.register_module()
class AmpOptimizerHook(OptimizerHook):
    """``OptimizerHook`` whose model runs its training forward under ``torch.autocast``.

    Args:
        dtype: ``'bfloat16'`` (CPU, or a GPU that computes in it) or ``'float16'`` (GPU).
        loss_scale: float16 only: ``'dynamic'``, a fixed number, or a dict of
            ``GradScaler`` arguments. The scale is not kept in checkpoints: after a resume
            it starts again from its initial value and settles within a few iterations.
        grad_clip, detect_anomalous_params: as ``OptimizerHook``.

    The segmentor must have an ``amp_dtype`` attribute that its ``forward_train`` autocasts
    to (``EncoderDecoderRefine`` has).
    """

    def __init__(self, dtype: str = 'bfloat16', loss_scale: Union[str, float, dict] = 'dynamic',
                 grad_clip: Optional[dict] = None, detect_anomalous_params: bool = False):
        super().__init__(grad_clip, detect_anomalous_params)
        if dtype not in AMP_DTYPES:
            raise ValueError(f'AmpOptimizerHook: dtype {dtype!r} is not one of '
                             f'{", ".join(AMP_DTYPES)}')
        self.dtype = AMP_DTYPES[dtype]
        self.loss_scale = loss_scale
        self.scaler = None

    def before_run(self, runner) -> None:
        model = runner.model.module if is_module_wrapper(runner.model) else runner.model
        if not hasattr(model, 'amp_dtype'):
            raise TypeError(f'AmpOptimizerHook: {type(model).__name__} has no amp_dtype '
                            'attribute to autocast its forward with (use EncoderDecoderRefine)')
        device = next(model.parameters()).device
        if self.dtype == torch.float16:
            if device.type != 'cuda':
                raise ValueError(f'AmpOptimizerHook: float16 training needs a CUDA GPU, the '
                                 f"model is on {device}; use dtype='bfloat16' there")
            self.scaler = grad_scaler(self.loss_scale)
        elif device.type == 'cuda' and not torch.cuda.is_bf16_supported():
            raise ValueError(f'AmpOptimizerHook: {torch.cuda.get_device_name(device)} does not '
                             "compute in bfloat16; use dtype='float16'")
        model.amp_dtype = self.dtype
        runner.logger.info(f'mixed-precision training: autocast to {self.dtype} on {device.type}'
                           + (', dynamic loss scaling' if self.scaler is not None
                              and self.loss_scale == 'dynamic' else ''))

    def after_train_iter(self, runner) -> None:
        if self.scaler is None:  # bfloat16 has float32's range: no scaling
            return super().after_train_iter(runner)
        runner.optimizer.zero_grad()
        if self.detect_anomalous_params:
            self.detect_anomalous_parameters(runner.outputs['loss'], runner)
        self.scaler.scale(runner.outputs['loss']).backward()
        self.scaler.unscale_(runner.optimizer)
        if self.grad_clip is not None:
            grad_norm = self.clip_grads(runner.model.parameters())
            if grad_norm is not None:
                runner.log_buffer.update({'grad_norm': float(grad_norm)},
                                         runner.outputs['num_samples'])
        self.scaler.step(runner.optimizer)  # skipped where the gradients overflowed
        self.scaler.update()
