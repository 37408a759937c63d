# The CPU continuation (hrnet18s_128_diverse_cpu.py) taught by two refiners at once: the
# network also learns the mean patch probabilities of the default model and of the base model
# (the CPU-trained one the default was fine-tuned from), the two-model blend of
# tools/benchmarks/ensemble.py in one network. The base model is not shipped: set
#   --cfg-options model.teachers.1.checkpoint=BASE.pth
_base_ = ['./hrnet18s_128_diverse_cpu.py']
model = dict(
    type='DistillEncoderDecoderRefine',
    teachers=[dict(checkpoint='default', weight=0.5), dict(checkpoint=None, weight=0.5)],
    distill_weight=1.0)
