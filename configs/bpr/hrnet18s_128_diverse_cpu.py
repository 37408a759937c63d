# The default model's recipe continued on a CPU (tools/benchmarks/duts.sh cpu): 8 patches per
# process in bfloat16 autocast, the backbone's BatchNorm statistics frozen (8 patches estimate
# them badly; the release re-estimates them anyway), the loss of the pixels within 2 px of an
# outline at the network input weighted 5 times, and a learning rate for a continuation.
# bfloat16 pays on CPUs with AVX512-BF16 or AMX only; elsewhere (the hook warns) train in
# float32: --cfg-options optimizer_config.dtype=float32 (duts.sh: OPTIONS=that).
_base_ = ['./hrnet18s_128_diverse.py']
model = dict(
    backbone=dict(norm_eval=True),
    decode_head=dict(sampler=dict(type='OutlineWeightSampler', weight=5, radius=2)))
data = dict(samples_per_gpu=8, workers_per_gpu=1)
optimizer = dict(lr=0.0025)
optimizer_config = dict(type='AmpOptimizerHook', dtype='bfloat16')
runner = dict(max_iters=5000)
checkpoint_config = dict(interval=1000)
