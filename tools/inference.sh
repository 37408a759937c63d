#!/usr/bin/env sh
# Refine Cityscapes-form instance results (cityscapesScripts' txt + PNG folder).
#
#   IOU_THRESH=0.55 IMG_DIR=data/cityscapes/leftImg8bit/val \
#   GT_JSON=data/cityscapes/annotations/instancesonly_filtered_gtFine_val.json \
#   BPR_ROOT=. GPUS=4 \
#   sh tools/inference.sh CONFIG CHECKPOINT COARSE_DIR OUT_DIR [OPTIONS]
#
# Writes OUT_DIR/coarse.json, OUT_DIR/refined.json and the refined results folder
# OUT_DIR/refined, ready for cityscapesScripts' evaluation. OPTIONS go to tools/refine_coco.py
# (see tools/inference_coco.sh). NUM_PROC (default: all cores) processes read and write the
# mask PNGs.
set -e
[ $# -ge 4 ] || { echo "usage: sh $0 CONFIG CHECKPOINT COARSE_DIR OUT_DIR [OPTIONS]" >&2; exit 2; }
IMG_DIR=${IMG_DIR:-data/cityscapes/leftImg8bit/val}
GT_JSON=${GT_JSON:-data/cityscapes/annotations/instancesonly_filtered_gtFine_val.json}
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$BPR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
NUM_PROC=${NUM_PROC:-$(nproc 2>/dev/null || echo 1)}
CONFIG=$1 CKPT=$2 COARSE=$3 OUT=$4
shift 4
[ -d "$COARSE" ] || { echo "error: $COARSE: coarse results folder not found" >&2; exit 1; }
mkdir -p "$OUT"
case "$(cd "$COARSE" && pwd -P)/" in "$(cd "$OUT" && pwd -P)/refined/"*)
  echo "error: $OUT/refined: the output would replace the input $COARSE" >&2; exit 1 ;;
esac
# This run writes into a folder of its own and replaces earlier results only when it
# succeeds: a failure or Ctrl-C leaves OUT_DIR as it was.
RUN=$(mktemp -d "$OUT/.bpr_run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
trap 'exit 130' INT TERM
"$PYTHON" "$BPR_ROOT/tools/cityscapes2json.py" "$COARSE" "$GT_JSON" "$RUN/coarse.json" \
  --num-proc "$NUM_PROC"
IMG_DIR=$IMG_DIR GT_JSON=$GT_JSON IOU_THRESH=${IOU_THRESH:-0.55} \
  sh "$BPR_ROOT/tools/inference_coco.sh" "$CONFIG" "$CKPT" "$RUN/coarse.json" \
  "$RUN/refined.json" "$@"
"$PYTHON" "$BPR_ROOT/tools/json2cityscapes.py" "$RUN/refined.json" "$GT_JSON" "$RUN/refined" \
  --num-proc "$NUM_PROC"
rm -rf "$OUT/refined"
mv "$RUN/coarse.json" "$RUN/refined.json" "$RUN/refined" "$OUT/"
