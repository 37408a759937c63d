"""Folding BatchNorm into the convolutions before it, for inference."""
import torch
from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
from torch import nn

from .hrnet_refine import HRNetRefine


def _fold_refine_stem(backbone: HRNetRefine) -> None:
    """Fold ``norm1`` into both convolutions whose sum it normalises.

    ``norm1`` follows ``conv1(img) + conv_mask(mask)``, so mmcv's pairwise fusion (which would
    fold it into ``conv1`` alone) is wrong here: both weights take the BN scale, ``conv1``'s
    bias the BN shift.
    """
    bn, conv, conv_mask = backbone.norm1, backbone.conv1, backbone.conv_mask
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale + (bn.bias if bn.bias is not None else 0)
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    if conv_mask.bias is not None:
        conv_mask.bias = nn.Parameter(conv_mask.bias * scale)
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter(shift)
    conv_mask.weight = nn.Parameter(conv_mask.weight * scale.view(-1, 1, 1, 1))
    setattr(backbone, backbone.norm1_name, nn.Identity())


@torch.no_grad()
def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution before it (in place).

    Same result up to float rounding, fewer operations: for inference only (the running
    statistics become constants). Handles the two-input stem of :class:`HRNetRefine`, then
    leaves the rest to :func:`mmcv.cnn.fuse_conv_bn`.
    """
    for module in model.modules():
        if isinstance(module, HRNetRefine) and module.use_coarse_mask \
                and isinstance(module.norm1, nn.modules.batchnorm._BatchNorm):
            _fold_refine_stem(module)
    return mmcv_fuse_conv_bn(model)
