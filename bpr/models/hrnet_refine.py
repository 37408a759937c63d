"""HRNet that also sees the coarse mask."""
import torch
from mmcv.cnn import build_conv_layer
from mmseg.models.backbones import HRNet
from mmseg.models.builder import BACKBONES


@BACKBONES.register_module()
class HRNetRefine(HRNet):
    """mmseg's HRNet with a mask branch in the stem.

    ``conv_mask`` (3x3, stride 2, 1 -> 64, no bias) embeds the coarse mask (values in {-1, 1});
    its output is added to the image stem's ``conv1`` output before ``norm1``. Parameter names
    are those of the original BPR models so that their checkpoints load unchanged.

    Args:
        use_coarse_mask (bool): Build and use the mask branch. ``False`` gives the plain HRNet
            (the paper's "without mask" ablation); the mask argument of ``forward`` is ignored.
        **kwargs: Arguments of :class:`mmseg.models.backbones.HRNet`.
    """

    def __init__(self, use_coarse_mask: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.use_coarse_mask = use_coarse_mask
        if use_coarse_mask:
            self.conv_mask = build_conv_layer(
                self.conv_cfg, 1, 64, kernel_size=3, stride=2, padding=1, bias=False)

    def forward(self, img: torch.Tensor, mask: torch.Tensor = None) -> list:
        """Return the four branch outputs for images (N, 3, H, W) and masks (N, 1, H, W)."""
        x = self.conv1(img)
        if self.use_coarse_mask:
            if mask is None:
                raise ValueError('HRNetRefine was built with use_coarse_mask=True: pass the mask')
            x = x + self.conv_mask(mask)
        x = self.relu(self.norm1(x))
        x = self.relu(self.norm2(self.conv2(x)))
        y_list = [self.layer1(x)]
        # Same wiring as HRNet.forward: a new branch starts from the last one, old ones go on.
        for i in (1, 2, 3):
            transition = getattr(self, f'transition{i}')
            num_branches = getattr(self, f'stage{i + 1}_cfg')['num_branches']
            x_list = [
                transition[j](y_list[-1]) if transition[j] is not None else y_list[j]
                for j in range(num_branches)
            ]
            y_list = getattr(self, f'stage{i + 1}')(x_list)
        return y_list
