from .boundary import BoundaryCOCOeval, coco_mask_metrics, mask_to_boundary

__all__ = ['BoundaryCOCOeval', 'coco_mask_metrics', 'mask_to_boundary']
