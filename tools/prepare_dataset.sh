#!/usr/bin/env sh
# Build the patch dataset of Cityscapes from coarse results in Cityscapes form.
#
#   sh tools/prepare_dataset.sh maskrcnn_train maskrcnn_val maskrcnn_r50
#
# Writes OUT/coarse_{train,val}.json and OUT/patches (DATA_ROOT of training). Environment:
#   IOU_THRESH     NMS threshold of the boundary boxes (default 0.25)
#   IMG_DIR_TRAIN, IMG_DIR_VAL   (default data/cityscapes/leftImg8bit/{train,val})
#   GT_JSON        folder of instancesonly_filtered_gtFine_{train,val}.json
#                  (default data/cityscapes/annotations); or set each file:
#   GT_JSON_TRAIN, GT_JSON_VAL
#   FILTER_IOU (0.5), PATCH_SIZE (64), PADDING (0), NUM_PROC, BPR_ROOT
set -e
[ $# -eq 3 ] || { echo "usage: sh $0 COARSE_TRAIN_DIR COARSE_VAL_DIR OUT" >&2; exit 2; }
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$BPR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
ANN=${GT_JSON:-data/cityscapes/annotations}
IMG_DIR_TRAIN=${IMG_DIR_TRAIN:-data/cityscapes/leftImg8bit/train}
IMG_DIR_VAL=${IMG_DIR_VAL:-data/cityscapes/leftImg8bit/val}
GT_JSON_TRAIN=${GT_JSON_TRAIN:-$ANN/instancesonly_filtered_gtFine_train.json}
GT_JSON_VAL=${GT_JSON_VAL:-$ANN/instancesonly_filtered_gtFine_val.json}
mkdir -p "$3"
NUM_PROC=${NUM_PROC:-$(nproc 2>/dev/null || echo 1)}
"$PYTHON" "$BPR_ROOT/tools/cityscapes2json.py" "$1" "$GT_JSON_TRAIN" "$3/coarse_train.json" \
  --num-proc "$NUM_PROC"
"$PYTHON" "$BPR_ROOT/tools/cityscapes2json.py" "$2" "$GT_JSON_VAL" "$3/coarse_val.json" \
  --num-proc "$NUM_PROC"
NUM_PROC=$NUM_PROC IMG_DIR_TRAIN=$IMG_DIR_TRAIN IMG_DIR_VAL=$IMG_DIR_VAL GT_JSON_TRAIN=$GT_JSON_TRAIN \
  GT_JSON_VAL=$GT_JSON_VAL sh "$BPR_ROOT/tools/prepare_dataset_coco.sh" \
  "$3/coarse_train.json" "$3/coarse_val.json" "$3"
