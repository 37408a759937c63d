from .inference import (DEFAULT_CHECKPOINT, DEFAULT_CONFIG, default_device, for_model,
                        init_refiner, patch_views, refine, refine_masks, run_groups,
                        run_patches)

__all__ = [
    'DEFAULT_CONFIG', 'DEFAULT_CHECKPOINT', 'default_device', 'for_model', 'init_refiner',
    'patch_views', 'refine', 'refine_masks', 'run_groups', 'run_patches'
]
