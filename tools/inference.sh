#!/usr/bin/env sh
# Refine Cityscapes-form instance results (cityscapesScripts' txt + PNG folder).
#
#   IOU_THRESH=0.55 IMG_DIR=data/cityscapes/leftImg8bit/val \
#   GT_JSON=data/cityscapes/annotations/instancesonly_filtered_gtFine_val.json \
#   BPR_ROOT=. GPUS=4 \
#   sh tools/inference.sh CONFIG CHECKPOINT COARSE_DIR OUT_DIR
#
# Writes OUT_DIR/coarse.json, OUT_DIR/refined.json and the refined results folder
# OUT_DIR/refined, ready for cityscapesScripts' evaluation.
set -e
[ $# -eq 4 ] || { echo "usage: sh $0 CONFIG CHECKPOINT COARSE_DIR OUT_DIR" >&2; exit 2; }
IMG_DIR=${IMG_DIR:-data/cityscapes/leftImg8bit/val}
GT_JSON=${GT_JSON:-data/cityscapes/annotations/instancesonly_filtered_gtFine_val.json}
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$BPR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$4"
# leave no partial output behind on failure
trap 'rm -rf "$4/coarse.json" "$4/refined.json" "$4/refined"' EXIT
"$PYTHON" "$BPR_ROOT/tools/cityscapes2json.py" "$3" "$GT_JSON" "$4/coarse.json"
IMG_DIR=$IMG_DIR GT_JSON=$GT_JSON IOU_THRESH=${IOU_THRESH:-0.55} \
  sh "$BPR_ROOT/tools/inference_coco.sh" "$1" "$2" "$4/coarse.json" "$4/refined.json"
"$PYTHON" "$BPR_ROOT/tools/json2cityscapes.py" "$4/refined.json" "$GT_JSON" "$4/refined"
trap - EXIT
