# A small, fast variant of hrnet18s_128 (64x64 input, plain BN, a few iterations) for tests
# and quick experiments on a CPU. Not a configuration of the paper.
_base_ = ['./hrnet18s_128.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(norm_cfg=norm_cfg))
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadCoarseMask'),
    dict(type='ResizeExact', img_scale=(64, 64), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
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
        img_scale=(64, 64),
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
    samples_per_gpu=4,
    workers_per_gpu=0,
    persistent_workers=False,  # needs workers
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline),
    test_dataloader=dict(samples_per_gpu=16, workers_per_gpu=0))
optimizer = dict(lr=0.01)
runner = dict(max_iters=20)
checkpoint_config = dict(interval=10)
evaluation = dict(interval=10)
log_config = dict(interval=5)
cudnn_benchmark = False
