# Ablation of the paper: hrnet18s_128 that sees the image patch only (no coarse-mask branch).
# The datasets and pipelines are unchanged; the coarse mask they load is ignored.
_base_ = ['./hrnet18s_128.py']
model = dict(backbone=dict(use_coarse_mask=False))
