from .encoder_decoder_refine import EncoderDecoderRefine
from .hrnet_refine import HRNetRefine

__all__ = ['HRNetRefine', 'EncoderDecoderRefine']
