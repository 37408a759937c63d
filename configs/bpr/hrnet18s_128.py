_base_ = [
    '../_base_/models/bpr_hr18s.py', '../_base_/datasets/refine.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_160k.py'
]
