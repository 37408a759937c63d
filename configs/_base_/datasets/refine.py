# Boundary-patch dataset written by tools/split_patches.py; DATA_ROOT points at its `patches`.
import os

dataset_type = 'RefineDataset'
data_root = os.environ.get('DATA_ROOT')
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
input_size = (128, 128)  # the network input; patches are resized to it
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadCoarseMask'),
    dict(type='ResizeExact', img_scale=input_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Normalize', **img_norm_cfg),
    dict(type='DefaultFormatBundle'),
    dict(type='ImageToTensor', keys=['coarse_mask']),
    dict(type='ToDataContainer', fields=(dict(key='coarse_mask', stack=True), )),
    dict(type='Collect', keys=['img', 'gt_semantic_seg', 'coarse_mask']),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCoarseMask'),
    dict(
        type='MultiScaleFlipAug',
        img_scale=input_size,
        flip=False,
        transforms=[
            dict(type='ResizeExact', keep_ratio=False),
            dict(type='RandomFlip'),
            dict(type='Normalize', **img_norm_cfg),
            dict(type='ImageToTensor', keys=['img', 'coarse_mask']),
            dict(type='Collect', keys=['img', 'coarse_mask']),
        ])
]
data = dict(
    samples_per_gpu=8,
    workers_per_gpu=4,
    train=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='img_dir/train',
        ann_dir='ann_dir/train',
        mask_dir='mask_dir/train',
        pipeline=train_pipeline),
    val=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='img_dir/val',
        ann_dir='ann_dir/val',
        mask_dir='mask_dir/val',
        pipeline=test_pipeline),
    test=dict(
        type=dataset_type,
        data_root=data_root,
        img_dir='img_dir/val',
        ann_dir='ann_dir/val',
        mask_dir='mask_dir/val',
        pipeline=test_pipeline),
    # patches are small and of one size: test them in batches
    test_dataloader=dict(samples_per_gpu=64, workers_per_gpu=2))
