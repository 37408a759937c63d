"""Training a refiner to match other refiners' patch probabilities (knowledge distillation)."""
import copy
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn.utils import revert_sync_batchnorm
from mmseg.core import add_prefix
from mmseg.models.builder import SEGMENTORS
from mmseg.ops import resize

from ..core.checkpoint import load_weights
from .encoder_decoder_refine import EncoderDecoderRefine


@SEGMENTORS.register_module()
class DistillEncoderDecoderRefine(EncoderDecoderRefine):
    """:class:`EncoderDecoderRefine` that also learns the averaged patch probabilities of
    fixed teacher refiners (Hinton et al., 2015), e.g. to put a two-model ensemble into one
    network::

        model = dict(type='DistillEncoderDecoderRefine',
                     teachers=[dict(checkpoint='default', weight=0.5),
                               dict(checkpoint='base.pth', weight=0.5)],
                     distill_weight=1.0)

    The training loss is the decode head's (against the labels) plus ``distill_weight`` times
    the KL divergence from the teachers' weighted mean probability to the network's, per
    pixel at the network input, over the labelled pixels; the decode head's pixel sampler
    (e.g. ``OutlineWeightSampler``) weights it as it weights the labels' loss. The teachers
    have the student's architecture, run in eval mode without gradients, and are not part of
    the state dict: checkpoints of this model are plain ``EncoderDecoderRefine`` ones. At
    test time it is the student alone.

    Args:
        teachers: ``dict(checkpoint=..., weight=...)`` each; ``checkpoint='default'`` is the
            project's default model. Loaded as :func:`~bpr.core.checkpoint.load_weights` does
            (no code runs from them).
        distill_weight: the weight of the distillation loss.
    """

    def __init__(self, teachers: Sequence[dict], distill_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not teachers:
            raise ValueError('DistillEncoderDecoderRefine: no teachers')
        if self.out_channels != 2:
            raise ValueError('DistillEncoderDecoderRefine: the decode head must give 2 classes '
                             f'(softmax), it gives {self.out_channels}')
        weights = [float(t.get('weight', 1.0)) for t in teachers]
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f'DistillEncoderDecoderRefine: teacher weights must be >= 0 with '
                             f'a positive sum, got {weights}')
        if distill_weight < 0:
            raise ValueError(f'DistillEncoderDecoderRefine: distill_weight must be >= 0, '
                             f'got {distill_weight}')
        self.distill_weight = float(distill_weight)
        self.teacher_weights = [w / sum(weights) for w in weights]
        arch = {k: copy.deepcopy(kwargs[k]) for k in ('backbone', 'decode_head', 'neck')
                if kwargs.get(k) is not None}
        # a plain list: the teachers stay out of parameters(), state_dict(), train() and .to()
        self._teachers: List[EncoderDecoderRefine] = [
            self._load_teacher(arch, t.get('checkpoint'), kwargs.get('test_cfg'))
            for t in teachers]

    @staticmethod
    def _load_teacher(arch: dict, checkpoint: Optional[str], test_cfg) -> EncoderDecoderRefine:
        from ..apis.inference import checkpoint_file
        checkpoint = checkpoint_file(checkpoint)
        if not checkpoint:
            raise ValueError('DistillEncoderDecoderRefine: a teacher without a checkpoint '
                             '(set model.teachers.N.checkpoint)')
        teacher = revert_sync_batchnorm(EncoderDecoderRefine(**copy.deepcopy(arch),
                                                             test_cfg=test_cfg))
        load_weights(teacher, checkpoint)
        teacher.eval().requires_grad_(False)
        return teacher

    @torch.no_grad()
    def teacher_probs(self, img: torch.Tensor, coarse_mask: torch.Tensor) -> torch.Tensor:
        """The teachers' weighted mean class probabilities (N, 2, H, W) at the input's size."""
        total = 0
        for teacher, weight in zip(self._teachers, self.teacher_weights):
            if next(teacher.parameters()).device != img.device:
                teacher.to(img.device)
            logit = teacher.encode_decode(img, None, coarse_mask)
            total = total + weight * F.softmax(logit.float(), dim=1)
        return total

    def distill_loss(self, seg_logits: torch.Tensor, target: torch.Tensor,
                     gt_semantic_seg: torch.Tensor) -> torch.Tensor:
        """Mean KL divergence from ``target`` to the softmax of ``seg_logits`` (resized to
        it) over the labelled pixels, weighted by the decode head's sampler if any."""
        logit = resize(seg_logits, size=target.shape[2:], mode='bilinear',
                       align_corners=self.align_corners).float()
        kl = F.kl_div(F.log_softmax(logit, dim=1), target, reduction='none').sum(1)
        head = self.decode_head
        valid = (gt_semantic_seg.squeeze(1) != head.ignore_index).float()
        weight = valid if head.sampler is None else head.sampler.sample(logit, gt_semantic_seg)
        return (kl * weight).sum() / valid.sum().clamp(min=1)

    def forward_train(self, img, img_metas, gt_semantic_seg, coarse_mask=None):
        with torch.autocast(img.device.type, self.amp_dtype, self.amp_dtype is not None):
            x = self.extract_feat(img, coarse_mask)
            seg_logits = self.decode_head(x)
            losses = add_prefix(self.decode_head.losses(seg_logits, gt_semantic_seg), 'decode')
            if self.with_auxiliary_head:
                losses.update(self._auxiliary_head_forward_train(x, img_metas,
                                                                 gt_semantic_seg))
            target = self.teacher_probs(img, coarse_mask)
        losses['distill.loss_kl'] = self.distill_weight * self.distill_loss(
            seg_logits, target, gt_semantic_seg)
        return losses
