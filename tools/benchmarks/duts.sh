#!/usr/bin/env bash
# DUTS-TR (photographs of diverse objects): the held-out split and the small-instance option.
#
#   DATA=path/to/data WORK=/tmp/bpr_duts bash tools/benchmarks/duts.sh [STEP...]
#
# DATA holds duts_tr/{images,annotations} (COCO form). Steps (default: data small):
#   data   every 20th image by file name is held out (never trained on): heldout_gt.json;
#          train_gt.json is the rest. Mask R-CNN-like coarse masks (28x28 grid) of the held-out
#          images.
#   small  refine the held-out coarse masks with CKPT, then the min-size sweep: instances
#          smaller than MIN px (longer box side) keep their coarse mask; metrics per COCO
#          size bucket for each MIN, and one real run at MIN_SIZE to check the composition.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${DATA:?set DATA to the folder holding duts_tr/}"
WORK=${WORK:-/tmp/bpr_duts}
CKPT=${CKPT:-default}
CONFIG=$ROOT/configs/bpr/hrnet18s_128.py
GPUS=${GPUS:-2}
PYTHON=${PYTHON:-python}
MIN_SIZE=${MIN_SIZE:-128}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$WORK"
py() { "$PYTHON" "$ROOT/tools/$1" "${@:2}"; }
refine() {  # refine COARSE OUT [OPTIONS]
  IMG_DIR=$DATA/duts_tr/images GT_JSON=$WORK/heldout_gt.json GPUS=$GPUS \
    sh "$ROOT/tools/inference_coco.sh" "$CONFIG" "$CKPT" "$1" "$2" "${@:3}"
}

for step in ${*:-data small}; do case $step in
data)
  py split_coco.py "$DATA/duts_tr/annotations/instances.json" "$WORK/train_gt.json" \
    "$WORK/heldout_gt.json" --every 20
  py make_coarse.py "$WORK/heldout_gt.json" "$WORK/heldout_coarse.json" --seed 11 ;;
small)
  refine "$WORK/heldout_coarse.json" "$WORK/heldout_refined.json" --min-size 0
  "$PYTHON" "$ROOT/tools/benchmarks/compose_min_size.py" "$WORK/heldout_coarse.json" \
    "$WORK/heldout_refined.json" "$WORK/heldout_min" 32 64 96 128
  refine "$WORK/heldout_coarse.json" "$WORK/heldout_run_min$MIN_SIZE.json" --min-size "$MIN_SIZE"
  "$PYTHON" -c "import json, sys; a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit('the composed results differ from a real --min-size run' if a != b else 0)" \
    "$WORK/heldout_run_min$MIN_SIZE.json" "$WORK/heldout_min$MIN_SIZE.json"
  (cd "$WORK" && py eval.py heldout_gt.json heldout_coarse.json heldout_refined.json \
    heldout_min32.json heldout_min64.json heldout_min96.json heldout_min128.json \
    --out metrics_small.json) ;;
*) echo "unknown step $step" >&2; exit 2 ;;
esac; done
