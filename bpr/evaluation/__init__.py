from .boundary import (BoundaryCOCOeval, FScoreCOCOeval, ap_per_threshold, boundary_fscore,
                       coco_mask_metrics, instance_ious, largest_gains, mask_to_boundary)
from .cityscapes import cityscapes_ap
from .upper_bound import boundary_band, upper_bound_results

__all__ = [
    'BoundaryCOCOeval', 'FScoreCOCOeval', 'ap_per_threshold', 'boundary_fscore',
    'coco_mask_metrics', 'instance_ious', 'largest_gains', 'mask_to_boundary', 'cityscapes_ap',
    'boundary_band', 'upper_bound_results'
]
