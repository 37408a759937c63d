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
MIN_SIZE=${MIN_SIZE:-32}
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
  "$PYTHON" - "$WORK" 16 24 32 48 64 <<'PY'
import json, sys
import pycocotools.mask as mask_utils
work, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
coarse = json.load(open(f'{work}/heldout_coarse.json'))
refined = json.load(open(f'{work}/heldout_refined.json'))
# the instance's box as extract_instance sees it (the coarse mask's)
side = [max(mask_utils.toBbox(c['segmentation'])[2:]) for c in coarse]
for s in sizes:
    out = [c if d < s else r for c, r, d in zip(coarse, refined, side)]
    json.dump(out, open(f'{work}/heldout_min{s}.json', 'w'))
    print(f'min size {s}: {sum(d < s for d in side)} of {len(side)} instances kept coarse')
PY
  refine "$WORK/heldout_coarse.json" "$WORK/heldout_run_min$MIN_SIZE.json" --min-size "$MIN_SIZE"
  "$PYTHON" -c "import json, sys; a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit('the composed results differ from a real --min-size run' if a != b else 0)" \
    "$WORK/heldout_run_min$MIN_SIZE.json" "$WORK/heldout_min$MIN_SIZE.json"
  (cd "$WORK" && py eval.py heldout_gt.json heldout_coarse.json heldout_refined.json \
    heldout_min16.json heldout_min24.json heldout_min32.json heldout_min48.json \
    heldout_min64.json --out metrics_small.json) ;;
*) echo "unknown step $step" >&2; exit 2 ;;
esac; done
