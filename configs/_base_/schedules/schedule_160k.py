optimizer = dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005)
optimizer_config = dict()
lr_config = dict(policy='poly', power=0.9, min_lr=1e-4, by_epoch=False)
runner = dict(type='IterBasedRunner', max_iters=160000)
checkpoint_config = dict(by_epoch=False, interval=16000)
evaluation = dict(interval=16000, metric='mIoU', pre_eval=True)
# the total batch lr is meant for (the paper: 4 GPUs x 8 patches); `--auto-scale-lr` scales lr
# by (GPUs x samples_per_gpu) / base_batch_size, the linear rule
auto_scale_lr = dict(enable=False, base_batch_size=32)
