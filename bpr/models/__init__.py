from .distill import DistillEncoderDecoderRefine
from .encoder_decoder_refine import EncoderDecoderRefine
from .fuse import fuse_conv_bn
from .hrnet_refine import HRNetRefine
from .outline_sampler import OutlineWeightSampler

__all__ = ['HRNetRefine', 'EncoderDecoderRefine', 'DistillEncoderDecoderRefine',
           'OutlineWeightSampler', 'fuse_conv_bn']
