# The recipe of the project's default model at GPU scale (tools/benchmarks/duts.sh train):
# hrnet18s_128 on patches of DUTS-TR (held-out split excluded), Penn-Fudan train and COCO128
# with varied coarse masks, continued from the current default model (no ImageNet weights
# offline). 32 patches per GPU as the paper; 40k iterations on one GPU = 1.28M patches seen.
_base_ = ['./hrnet18s_128.py']
model = dict(pretrained=None)
data = dict(samples_per_gpu=32, workers_per_gpu=8)
optimizer = dict(lr=0.01)
runner = dict(type='IterBasedRunner', max_iters=40000)
checkpoint_config = dict(by_epoch=False, interval=5000)
evaluation = dict(interval=5000, metric='mIoU', pre_eval=True)
log_config = dict(interval=100)
