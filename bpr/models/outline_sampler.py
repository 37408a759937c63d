"""A pixel sampler that stresses the loss near the label's outlines."""
import torch
import torch.nn.functional as F
from mmseg.core.seg.builder import PIXEL_SAMPLERS
from mmseg.core.seg.sampler import BasePixelSampler


@PIXEL_SAMPLERS.register_module()
class OutlineWeightSampler(BasePixelSampler):
    """Weights the loss of the pixels near a class change ``weight`` times.

    A pixel is near the outline when its ``(2 radius + 1)²`` neighbourhood in the label holds
    more than one class (ignored pixels count as none). The weights are scaled to a mean of 1
    over each batch's valid pixels, so that the loss keeps its scale and the learning rate its
    meaning. Use it on a decode head, as mmseg's ``OHEMPixelSampler``::

        model = dict(decode_head=dict(sampler=dict(type='OutlineWeightSampler', weight=5,
                                                   radius=2)))

    Args:
        context: the decode head (for its ``ignore_index``).
        weight: the weight of a pixel near the outline, before scaling; the others have 1.
        radius: the distance to the nearest pixel of another class (Chebyshev, in label
            pixels: the network input's, where the loss is computed).
    """

    def __init__(self, context, weight: float = 5.0, radius: int = 2):
        super().__init__()
        if weight <= 0 or radius < 1:
            raise ValueError(f'OutlineWeightSampler: weight must be > 0 and radius >= 1, '
                             f'got {weight} and {radius}')
        self.context = context
        self.weight = float(weight)
        self.radius = int(radius)

    def sample(self, seg_logit: torch.Tensor, seg_label: torch.Tensor) -> torch.Tensor:
        """Per-pixel loss weights, shape ``(N, H, W)``, for labels of shape ``(N, 1, H, W)``."""
        with torch.no_grad():
            assert seg_logit.shape[2:] == seg_label.shape[2:]
            valid = seg_label != self.context.ignore_index
            label = seg_label.float()
            size = 2 * self.radius + 1
            # the largest and smallest class in each neighbourhood: they differ near an outline
            high = F.max_pool2d(label.masked_fill(~valid, -float('inf')), size, 1, self.radius)
            low = -F.max_pool2d(-label.masked_fill(~valid, float('inf')), size, 1, self.radius)
            near = (high > low) & valid
            weight = torch.where(near, self.weight, 1.0).to(seg_logit.dtype) * valid
            scale = valid.sum() / weight.sum().clamp(min=1e-12)
            return (weight * scale).squeeze(1)
