#!/usr/bin/env sh
# Build the patch dataset of a COCO-form dataset from coarse results.
#
#   IOU_THRESH=0.15 sh tools/prepare_dataset_coco.sh \
#     train.segm.json val.segm.json OUT [N_SAMPLES]
#
# Writes OUT/patches (DATA_ROOT of training). Environment:
#   IOU_THRESH     NMS threshold of the boundary boxes (default 0.25)
#   IMG_DIR_TRAIN, IMG_DIR_VAL   (default data/coco/train2017, data/coco/val2017)
#   GT_JSON_TRAIN, GT_JSON_VAL   (default data/coco/annotations/instances_{train,val}2017.json)
#   FILTER_IOU     training instances need a GT match above this IoU (default 0.5)
#   PATCH_SIZE (64), PADDING (0), NUM_PROC (number of cores), BPR_ROOT
set -e
[ $# -ge 3 ] || { echo "usage: sh $0 TRAIN_JSON VAL_JSON OUT [N_SAMPLES]" >&2; exit 2; }
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$BPR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
IMG_DIR_TRAIN=${IMG_DIR_TRAIN:-data/coco/train2017}
IMG_DIR_VAL=${IMG_DIR_VAL:-data/coco/val2017}
GT_JSON_TRAIN=${GT_JSON_TRAIN:-data/coco/annotations/instances_train2017.json}
GT_JSON_VAL=${GT_JSON_VAL:-data/coco/annotations/instances_val2017.json}
NUM_PROC=${NUM_PROC:-$(nproc 2>/dev/null || echo 1)}
COMMON="--iou-thresh ${IOU_THRESH:-0.25} --patch-size ${PATCH_SIZE:-64} --padding ${PADDING:-0} --num-proc $NUM_PROC"
mkdir -p "$3"
"$PYTHON" "$BPR_ROOT/tools/filter.py" "$1" "$GT_JSON_TRAIN" "$3/coarse_train_filtered.json" \
  --iou-thresh "${FILTER_IOU:-0.5}" --num-proc "$NUM_PROC"
"$PYTHON" "$BPR_ROOT/tools/split_patches.py" "$3/coarse_train_filtered.json" "$GT_JSON_TRAIN" \
  "$IMG_DIR_TRAIN" "$3/patches" --mode train $COMMON ${4:+--sample-inst $4}
"$PYTHON" "$BPR_ROOT/tools/split_patches.py" "$2" "$GT_JSON_VAL" "$IMG_DIR_VAL" "$3/patches" \
  --mode val $COMMON
