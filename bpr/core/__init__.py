from . import amp, budget  # noqa: F401  (register AmpOptimizerHook, TimeBudgetHook)
from .checkpoint import load_from_local
from .masks import MaskFormatError, decode, encode
from .patches import (PatchConfig, boundary_score, crop_padded, crop_patches, dense_boxes,
                      grid_boxes, instance_roi, move_inside, nms_boxes, propose)
from .reassemble import paste_patches
from .refiner import (InstancePatches, PatchGroup, extract_image, extract_instance,
                      reassemble_image, reassemble_instance)

__all__ = [
    'load_from_local', 'MaskFormatError', 'decode', 'encode', 'PatchConfig', 'boundary_score',
    'crop_padded', 'crop_patches', 'dense_boxes', 'grid_boxes', 'instance_roi', 'move_inside',
    'nms_boxes', 'propose', 'paste_patches', 'InstancePatches', 'PatchGroup', 'extract_image',
    'extract_instance', 'reassemble_image', 'reassemble_instance'
]
