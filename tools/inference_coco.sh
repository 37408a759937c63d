#!/usr/bin/env sh
# Refine COCO-form instance results.
#
#   IOU_THRESH=0.25 IMG_DIR=data/coco/val2017 \
#   GT_JSON=data/coco/annotations/instances_val2017.json GPUS=4 \
#   sh tools/inference_coco.sh CONFIG CHECKPOINT COARSE_JSON REFINED_JSON [OPTIONS]
#
# CHECKPOINT "default" (or "") takes the project's default model; "none" random weights.
# GPUS processes share the images (GPUs, or CPU processes where there is no GPU).
# Also: PATCH_SIZE (box side in px), PATCH_RATIO (boxes at least this fraction of their
# instance's longer side), PADDING (0), SAMPLING (nms, as the original; nms_stable; grid),
# MIN_SIZE (instances smaller than this, in px, keep their coarse mask), MIN_PART (specks and
# pinholes smaller than this, in px, that refining made are removed), FLIP (1 or 0: flip
# test-time augmentation on or off), BATCH_SIZE (patches per forward: 256 on a GPU, 16 on the
# CPU), PORT (29500). IOU_THRESH, PATCH_SIZE, PATCH_RATIO, MIN_SIZE, MIN_PART and FLIP default
# to the checkpoint's own settings (its meta), else 0.25, 64, 0, 0, 0 and the config's.
# OPTIONS go to tools/refine_coco.py, e.g. --precision bf16.
set -e
[ $# -ge 4 ] || {
  echo "usage: sh $0 CONFIG CHECKPOINT COARSE_JSON REFINED_JSON [OPTIONS]" >&2; exit 2; }
: "${IMG_DIR:?set IMG_DIR to the image folder}"
: "${GT_JSON:?set GT_JSON to the COCO ground-truth JSON of those images}"
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
case "${FLIP:-}" in
  '') FLIP_OPT= ;; 1) FLIP_OPT=--flip ;; 0) FLIP_OPT=--no-flip ;;
  *) echo "error: FLIP=$FLIP: expected 1 or 0" >&2; exit 2 ;;
esac
CONFIG=$1 CKPT=${2:-default} COARSE=$3 OUT=$4
shift 4
exec sh "$BPR_ROOT/tools/launch.sh" "$BPR_ROOT/tools/refine_coco.py" \
  "$CONFIG" "$CKPT" "$COARSE" "$OUT" --img-dir "$IMG_DIR" --gt-json "$GT_JSON" \
  ${IOU_THRESH:+--iou-thresh "$IOU_THRESH"} ${MIN_SIZE:+--min-size "$MIN_SIZE"} $FLIP_OPT \
  ${MIN_PART:+--min-part "$MIN_PART"} \
  ${PATCH_SIZE:+--patch-size "$PATCH_SIZE"} ${PATCH_RATIO:+--patch-ratio "$PATCH_RATIO"} \
  --padding "${PADDING:-0}" \
  --sampling "${SAMPLING:-nms}" ${BATCH_SIZE:+--batch-size "$BATCH_SIZE"} "$@"
