from .boundary import BoundaryCOCOeval, coco_mask_metrics, mask_to_boundary
from .upper_bound import upper_bound_results

__all__ = ['BoundaryCOCOeval', 'coco_mask_metrics', 'mask_to_boundary', 'upper_bound_results']
