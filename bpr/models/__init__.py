from .encoder_decoder_refine import EncoderDecoderRefine
from .fuse import fuse_conv_bn
from .hrnet_refine import HRNetRefine

__all__ = ['HRNetRefine', 'EncoderDecoderRefine', 'fuse_conv_bn']
