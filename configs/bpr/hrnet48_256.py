_base_ = [
    '../_base_/models/bpr_hr18s.py', '../_base_/datasets/refine.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
model = dict(
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(4, )),
            stage2=dict(num_blocks=(4, 4), num_channels=(48, 96)),
            stage3=dict(num_modules=4, num_blocks=(4, 4, 4), num_channels=(48, 96, 192)),
            stage4=dict(
                num_modules=3, num_blocks=(4, 4, 4, 4), num_channels=(48, 96, 192, 384)))),
    decode_head=dict(in_channels=[48, 96, 192, 384], channels=sum([48, 96, 192, 384])))

# The network sees 256x256 patches.
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadCoarseMask'),
    dict(type='ResizeExact', img_scale=(256, 256), keep_ratio=False),
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
        img_scale=(256, 256),
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
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
