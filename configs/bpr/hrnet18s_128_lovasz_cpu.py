# The CPU continuation (hrnet18s_128_diverse_cpu.py) with a Lovasz-softmax term beside the
# outline-weighted cross-entropy: a loss of the patch's IoU itself rather than of its pixels one
# by one. Measured as run 8 in docs/model_zoo.md (below the default on both sets; not adopted).
_base_ = ['./hrnet18s_128_diverse_cpu.py']
model = dict(decode_head=dict(loss_decode=[
    dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True),
    # the Lovasz extension takes the batch's pixels together (per_image=False), which mmseg
    # allows with reduction 'none' only; the outline weights apply to the cross-entropy
    dict(type='LovaszLoss', loss_type='multi_class', per_image=False, reduction='none',
         loss_weight=1.0)]))
