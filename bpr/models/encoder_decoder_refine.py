"""Segmentor of the refinement network."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmseg.models.builder import SEGMENTORS
from mmseg.models.segmentors import EncoderDecoder
from mmseg.ops import resize


@SEGMENTORS.register_module()
class EncoderDecoderRefine(EncoderDecoder):
    """EncoderDecoder whose backbone also takes the coarse-mask patch.

    Every forward takes ``coarse_mask`` (N, 1, H, W) beside ``img``. At test time the output is
    the foreground probability (softmax channel 1) of each patch at its original resolution, as
    float32 arrays; ``test_cfg.output='label'`` gives the argmax instead.

    ``amp_dtype`` (set by ``AmpOptimizerHook``): the dtype the training forward autocasts to
    on the device of its input; ``None`` (the default) trains in float32.
    """

    amp_dtype: Optional[torch.dtype] = None

    def extract_feat(self, img, coarse_mask=None):
        x = self.backbone(img, coarse_mask)
        if self.with_neck:
            x = self.neck(x)
        return x

    def encode_decode(self, img, img_metas, coarse_mask=None):
        """Logits of the same size as ``img``."""
        x = self.extract_feat(img, coarse_mask)
        out = self._decode_head_forward_test(x, img_metas)
        return resize(out, size=img.shape[2:], mode='bilinear', align_corners=self.align_corners)

    def forward_dummy(self, img, coarse_mask=None):
        if coarse_mask is None:
            coarse_mask = img.new_ones((img.shape[0], 1, *img.shape[2:]))
        return self.encode_decode(img, None, coarse_mask)

    def forward_train(self, img, img_metas, gt_semantic_seg, coarse_mask=None):
        # the losses too: autocast computes cross-entropy in float32 from low-precision logits
        with torch.autocast(img.device.type, self.amp_dtype, self.amp_dtype is not None):
            x = self.extract_feat(img, coarse_mask)
            losses = dict()
            losses.update(self._decode_head_forward_train(x, img_metas, gt_semantic_seg))
            if self.with_auxiliary_head:
                losses.update(self._auxiliary_head_forward_train(x, img_metas,
                                                                 gt_semantic_seg))
        return losses

    def inference(self, img, img_meta, rescale=True, coarse_mask=None):
        """Class probabilities (N, C, h, w); ``h, w`` = original patch size if ``rescale``."""
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError("EncoderDecoderRefine supports test_cfg.mode='whole' only")
        seg_logit = self.encode_decode(img, img_meta, coarse_mask)
        if rescale and img_meta is not None:
            h, w = img_meta[0]['img_shape'][:2]
            seg_logit = resize(seg_logit[:, :, :h, :w], size=img_meta[0]['ori_shape'][:2],
                               mode='bilinear', align_corners=self.align_corners, warning=False)
        output = torch.sigmoid(seg_logit) if self.out_channels == 1 else F.softmax(seg_logit, 1)
        if img_meta is not None and img_meta[0].get('flip'):
            dim = 3 if img_meta[0]['flip_direction'] == 'horizontal' else 2
            output = output.flip(dims=(dim, ))
        return output

    def _to_output(self, prob):
        """Foreground probability, or the label map if ``test_cfg.output == 'label'``."""
        if self.out_channels == 1:
            fg = prob[:, 0]
            label = fg > self.decode_head.threshold
        else:
            fg = prob[:, 1]
            label = prob.argmax(dim=1)
        out = label if self.test_cfg.get('output', 'prob') == 'label' else fg
        return list(out.float().cpu().numpy())

    def simple_test(self, img, img_meta, rescale=True, coarse_mask=None):
        return self._to_output(self.inference(img, img_meta, rescale, coarse_mask))

    def aug_test(self, imgs, img_metas, rescale=True, coarse_mask=None):
        prob = sum(self.inference(i, m, rescale, c)
                   for i, m, c in zip(imgs, img_metas, coarse_mask))
        return self._to_output(prob / len(imgs))

    def forward_test(self, imgs, img_metas, coarse_mask=None, **kwargs):
        """``imgs``, ``img_metas`` and ``coarse_mask`` are lists over test-time augmentations."""
        if not isinstance(imgs, list):
            imgs, img_metas, coarse_mask = [imgs], [img_metas], [coarse_mask]
        if coarse_mask is None:
            coarse_mask = [None] * len(imgs)
        if len(imgs) == 1:
            return self.simple_test(imgs[0], img_metas[0], coarse_mask=coarse_mask[0], **kwargs)
        return self.aug_test(imgs, img_metas, coarse_mask=coarse_mask, **kwargs)
