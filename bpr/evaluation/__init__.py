from .boundary import (BoundaryCOCOeval, FScoreCOCOeval, boundary_fscore, coco_mask_metrics,
                       instance_ious, mask_to_boundary)
from .cityscapes import cityscapes_ap
from .upper_bound import upper_bound_results

__all__ = [
    'BoundaryCOCOeval', 'FScoreCOCOeval', 'boundary_fscore', 'coco_mask_metrics',
    'instance_ious', 'mask_to_boundary', 'cityscapes_ap', 'upper_bound_results'
]
