#!/usr/bin/env bash
# DUTS-TR (photographs of diverse objects): the held-out split and the small-instance option.
#
#   DATA=path/to/data WORK=/tmp/bpr_duts bash tools/benchmarks/duts.sh [STEP...]
#
# DATA holds duts_tr/, pennfudan/ and coco128/ (COCO form).
# Steps (default: data small errors pictures; scale, train, cpu and tune on request):
#   data   every 20th image by file name is held out (never trained on): heldout_gt.json;
#          train_gt.json is the rest. Mask R-CNN-like coarse masks (28x28 grid) of the held-out
#          images.
#   small  refine the held-out coarse masks with CKPT, then the min-size sweep: instances
#          smaller than MIN px (longer box side) keep their coarse mask; metrics per COCO
#          size bucket for each MIN, one real run at MIN_SIZE to check the composition, and
#          the upper bound (GT inside the selected patches, every instance / >= MIN_SIZE).
#   errors (after small) where the errors left at MIN_SIZE lie: boundary AP per IoU
#          threshold, pixels wrongly added / missing by distance to the GT outline, against a
#          perfect network of 2 patch px per output pixel (tools/benchmarks/error_bands.py),
#          and against the coarse recipe at finer grids (32 to 56: finer mask heads)
#   scale  (after data) the held-out split's every 2nd image as it is (x1) and at twice the
#          resolution (x2, tools/benchmarks/rescale_set.py), coarse masks drawn as for the
#          held-out split, refined with CKPT at each patch size of X1_PATCHES (default 32 40
#          48 56 64) and X2_PATCHES (48 64 80 96) with PATCH_RATIO=0, at CKPT's own
#          settings, and with the size of each instance's patches in proportion to it: its
#          longer side / 5, 6 or 7, composed from those runs
#          (tools/benchmarks/compose_patch_size.py)
#   pictures (after small) the held-out photographs with the largest Boundary-IoU gains at
#          MIN_SIZE: coarse with the selected patches vs refined, GT thin (WORK/pictures)
#   train  (GPU scale; after data) the default model's recipe on diverse objects: patches of
#          DUTS-TR train (every TRAIN_EVERY-th image, default all) + Penn-Fudan train + COCO128
#          with varied coarse masks (28x28, 20x20 and 14x14 grids, dilated/eroded, wavy
#          boundaries, missing thin parts; five draws per instance, PF_ROUNDS (default 0)
#          times five more for Penn-Fudan's persons), fine-tuned with
#          configs/bpr/hrnet18s_128_diverse.py from CKPT on GPUS processes (ITERS
#          iterations, default the config's, or those of them that fit in TRAIN_MINUTES,
#          the schedule shortened with them; OPTIONS: more --cfg-options), then released
#          as WORK/default.pth: the fine-tuned weights averaged with BASE's (default CKPT;
#          ALPHA, default 0.7; publish_model.py --base), its BatchNorm statistics
#          re-estimated on BN_PATCHES training patches (default 4096; 0: the average of the
#          two models' statistics), and its test settings: min_size MIN_SIZE, NMS IoU
#          TEST_IOU (default 0.55), patch size TEST_PATCH (default 48) grown to
#          TEST_PATCH_RATIO of large instances' longer side (default 0.125), specks and pinholes
#          under TEST_MIN_PART px removed (default 10) and flip test-time augmentation unless
#          TEST_FLIP=0.
#          Evaluate it with CKPT=WORK/default.pth and the `small` steps of this script and of
#          pennfudan.sh.
#   cpu    (after data) CKPT continued on a CPU (GPUS processes) with
#          configs/bpr/hrnet18s_128_diverse_cpu.py (8 patches per process, bfloat16 (on a CPU
#          without it natively: OPTIONS=optimizer_config.dtype=float32), the loss
#          stressed near the outlines, 5,000 iterations unless ITERS, or those of them that
#          fit in TRAIN_MINUTES): every DUTS-TR training photograph but the tuning split
#          of `tune` (for a run on every TRAIN_EVERY-th one, default 3), one of the five
#          coarse draws each (the i-th by file name: draw i mod 5), Penn-Fudan train and
#          COCO128 with all five (CPU_PHOTOS=subset: the every TRAIN_EVERY-th photographs
#          alone, as run 3; CPU_DRAWS=grid28: the five draws all plain 28x28 grids, other
#          seeds; DRAW_OFFSET: added to the draws' seeds, default 0, for new draws in a run
#          that continues one on the same photographs; PATCH_SIZE: the patches' size,
#          default 64); released as `train` does,
#          averaged with BASE (default CKPT) at ALPHA (default 0.5); `tune` then chooses
#          ALPHA. CPU_CONFIG trains with another config, e.g.
#          configs/bpr/hrnet18s_128_distill_cpu.py with
#          OPTIONS=model.teachers.1.checkpoint=BASE.pth (distillation from two refiners), or
#          configs/bpr/hrnet18s_128_diverse.py on a GPU (every photograph, one draw each:
#          fewer DUTS-TR patches than `train`'s five draws of every third).
#          (`train` and `cpu` write the same files: a WORK for each.)
#   tune   (after train with TRAIN_EVERY > 1, or after cpu) choose ALPHA on a tuning split that
#          neither the training nor the validation sets touch: every 16th DUTS-TR training image
#          that the fine-tuning did not use. For each of ALPHAS (default 0.5 0.7 0.85): released as
#          above, then measured at MIN_SIZE (WORK/metrics_tune.json). The rule: the largest
#          ALPHA with no size bucket below the coarse input there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${DATA:?set DATA to the folder holding duts_tr/}"
WORK=${WORK:-/tmp/bpr_duts}
CKPT=${CKPT:-default}
[ "$CKPT" != default ] || CKPT=$ROOT/checkpoints/bpr_hrnet18s_128_default.pth
CONFIG=$ROOT/configs/bpr/hrnet18s_128.py
GPUS=${GPUS:-2}
PYTHON=${PYTHON:-python}
MIN_SIZE=${MIN_SIZE:-192}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$WORK"
py() { "$PYTHON" "$ROOT/tools/$1" "${@:2}"; }
release() {  # release OUT ALPHA: the fine-tuned weights averaged with BASE's, statistics redone
  local recal=()
  [ "${BN_PATCHES:-4096}" = 0 ] ||
    recal=(--recalibrate "$WORK/mix/patches" --bn-patches "${BN_PATCHES:-4096}")
  local flip=--flip
  [ "${TEST_FLIP:-1}" = 1 ] || flip=--no-flip
  py publish_model.py "$WORK/train/latest.pth" "$1" --fp16 --min-size "$MIN_SIZE" \
    --iou-thresh "${TEST_IOU:-0.55}" --patch-size "${TEST_PATCH:-48}" "$flip" \
    --patch-ratio "${TEST_PATCH_RATIO:-0.125}" \
    --min-part "${TEST_MIN_PART:-10}" \
    --base "${BASE:-$CKPT}" --alpha "$2" "${recal[@]}"
}
# the five coarse-mask recipes of the default model's training:
# grid, dilate/erode up to px, boundary noise px, thin parts removed px, seed
DRAWS=("28 0 0 0 1" "28 2 1.0 0 2" "20 3 1.5 5 3" "14 0 1.0 0 4" "28 4 0 7 5")
mix_gt() {  # mix_gt DUTS_GT...: WORK/mix_gt.json (with Penn-Fudan train and COCO128) and the
  # validation patches' ground truth (the held-out split: only for the prepare step's form)
  local duts=()
  for gt in "$@"; do duts+=("$gt:duts_tr/images/"); done
  py combine_coco.py "$WORK/mix_gt.json" "${duts[@]}" \
    "$DATA/pennfudan/annotations/instances_train.json:pennfudan/images/" \
    "$DATA/coco128/annotations/instances.json:coco128/images/"
  py combine_coco.py "$WORK/val_gt.json" "$WORK/heldout_gt.json:duts_tr/images/"
  py make_coarse.py "$WORK/val_gt.json" "$WORK/val_coarse.json" --seed 11
}
coarse_draw() {  # coarse_draw GT DRAW SEED_OFFSET: one draw of every instance of GT, in parts
  # (in the background: drawn_all waits for the draws)
  local grid morph noise thin seed
  read -r grid morph noise thin seed <<<"${DRAWS[$2]}"; seed=$((seed + $3))
  py make_coarse.py "$1" "$WORK/mix_coarse_$seed.json" --grid "$grid" --morph "$morph" \
    --noise "$noise" --thin "$thin" --seed "$seed" --jitter 0.08 &
  drawing+=($!)
  parts+=("$WORK/mix_coarse_$seed.json")
}
drawn_all() {  # wait for the coarse draws, failing as the first of them that failed
  local pid
  for pid in "${drawing[@]}"; do wait "$pid"; done
  drawing=()
}
drawing=()
fit() {  # fit CONFIG COARSE...: the patches of the coarse draws, then CKPT fine-tuned on them
  "$PYTHON" -c "import json, sys; json.dump(sum((json.load(open(f)) for f in sys.argv[2:]), []),
    open(sys.argv[1], 'w'))" "$WORK/mix_coarse.json" "${@:2}"
  IMG_DIR_TRAIN=$DATA IMG_DIR_VAL=$DATA GT_JSON_TRAIN=$WORK/mix_gt.json \
    GT_JSON_VAL=$WORK/val_gt.json IOU_THRESH=0.25 \
    sh "$ROOT/tools/prepare_dataset_coco.sh" "$WORK/mix_coarse.json" "$WORK/val_coarse.json" \
    "$WORK/mix"
  # shellcheck disable=SC2086
  DATA_ROOT=$WORK/mix/patches bash "$ROOT/tools/dist_train.sh" "$1" "$GPUS" \
    --work-dir "$WORK/train" --load-from "$CKPT" --seed 0 --no-validate \
    ${TRAIN_MINUTES:+--time-budget "$TRAIN_MINUTES"} \
    --cfg-options ${ITERS:+runner.max_iters=$ITERS} checkpoint_config.interval=500 \
    ${OPTIONS:-}
}
refine() {  # refine COARSE OUT [OPTIONS]
  IMG_DIR=$DATA/duts_tr/images GT_JSON=$WORK/heldout_gt.json GPUS=$GPUS \
    sh "$ROOT/tools/inference_coco.sh" "$CONFIG" "$CKPT" "$1" "$2" "${@:3}"
}

for step in ${*:-data small errors pictures}; do case $step in
data)
  py split_coco.py "$DATA/duts_tr/annotations/instances.json" "$WORK/train_gt.json" \
    "$WORK/heldout_gt.json" --every 20
  py make_coarse.py "$WORK/heldout_gt.json" "$WORK/heldout_coarse.json" --seed 11 ;;
small)
  refine "$WORK/heldout_coarse.json" "$WORK/heldout_refined.json" --min-size 0
  "$PYTHON" "$ROOT/tools/benchmarks/compose_min_size.py" "$WORK/heldout_coarse.json" \
    "$WORK/heldout_refined.json" "$WORK/heldout_min" 32 64 96 128 160 192 256
  refine "$WORK/heldout_coarse.json" "$WORK/heldout_run_min$MIN_SIZE.json" --min-size "$MIN_SIZE"
  "$PYTHON" -c "import json, sys; a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit('the composed results differ from a real --min-size run' if a != b else 0)" \
    "$WORK/heldout_run_min$MIN_SIZE.json" "$WORK/heldout_min$MIN_SIZE.json"
  for min in 0 "$MIN_SIZE"; do
    py upper_bound.py "$WORK/heldout_coarse.json" "$WORK/heldout_gt.json" \
      "$WORK/heldout_upper_min$min.json" --min-size "$min" --checkpoint "$CKPT"
  done
  (cd "$WORK" && py eval.py heldout_gt.json heldout_coarse.json heldout_refined.json \
    heldout_min32.json heldout_min64.json heldout_min96.json heldout_min128.json \
    heldout_min160.json heldout_min192.json heldout_min256.json heldout_upper_min0.json \
    "heldout_upper_min$MIN_SIZE.json" --out metrics_small.json) ;;
errors)
  py upper_bound.py "$WORK/heldout_coarse.json" "$WORK/heldout_gt.json" \
    "$WORK/heldout_upper_s2.json" --stride 2 --checkpoint "$CKPT"
  (cd "$WORK" && "$PYTHON" "$ROOT/tools/benchmarks/error_bands.py" heldout_gt.json \
    heldout_coarse.json "heldout_min$MIN_SIZE.json" heldout_upper_s2.json)
  grids=()
  for g in 32 36 40 42 56; do
    py make_coarse.py "$WORK/heldout_gt.json" "$WORK/heldout_grid$g.json" --grid "$g" --seed 11
    grids+=("heldout_grid$g.json")
  done
  (cd "$WORK" && py eval.py heldout_gt.json heldout_coarse.json "heldout_min$MIN_SIZE.json" \
    "${grids[@]}") ;;
scale)
  # x1: every 2nd held-out image as it is; x2: the same at twice the resolution
  py split_coco.py "$WORK/heldout_gt.json" "$WORK/x1_rest_gt.json" "$WORK/x1_gt.json" --every 2
  py benchmarks/rescale_set.py "$WORK/heldout_gt.json" "$DATA/duts_tr/images" "$WORK/x2" \
    --factor 2 --every 2
  mv "$WORK/x2/gt.json" "$WORK/x2_gt.json"
  for set in "x1:$DATA/duts_tr/images:${X1_PATCHES:-32 40 48 56 64}" \
             "x2:$WORK/x2/images:${X2_PATCHES:-48 64 80 96}"; do
    IFS=: read -r name images sizes <<<"$set"
    py make_coarse.py "$WORK/${name}_gt.json" "$WORK/${name}_coarse.json" --seed 11
    runs=() outs=()
    for p in $sizes; do
      PATCH_SIZE=$p PATCH_RATIO=0 IMG_DIR=$images GT_JSON=$WORK/${name}_gt.json GPUS=$GPUS \
        sh "$ROOT/tools/inference_coco.sh" "$CONFIG" "$CKPT" "$WORK/${name}_coarse.json" \
        "$WORK/${name}_p$p.json"
      runs+=("$p=$WORK/${name}_p$p.json") outs+=("${name}_p$p.json")
    done
    # the checkpoint's own settings (the default model: 48 px, patch_ratio 0.125)
    IMG_DIR=$images GT_JSON=$WORK/${name}_gt.json GPUS=$GPUS \
      sh "$ROOT/tools/inference_coco.sh" "$CONFIG" "$CKPT" "$WORK/${name}_coarse.json" \
      "$WORK/${name}_own.json"
    outs+=("${name}_own.json")
    "$PYTHON" "$ROOT/tools/benchmarks/compose_patch_size.py" "$WORK/${name}_coarse.json" \
      "$WORK/${name}_side" "${runs[@]}" --divisors 5 6 7
    (cd "$WORK" && py eval.py "${name}_gt.json" "${name}_coarse.json" "${outs[@]}" \
      "${name}_side5.json" "${name}_side6.json" "${name}_side7.json" \
      --out "metrics_$name.json")
  done ;;
pictures)
  py visualize.py "$WORK/heldout_gt.json" "$DATA/duts_tr/images" "$WORK/heldout_coarse.json" \
    "$WORK/heldout_min$MIN_SIZE.json" "$WORK/pictures" --best --num "${NUM:-6}" --crop --gt \
    --checkpoint "$CKPT" --min-size "$MIN_SIZE" ;;
train)
  subset=$WORK/train_gt.json
  if [ "${TRAIN_EVERY:-1}" -gt 1 ]; then
    # every TRAIN_EVERY-th training image by file name: the split rule's "held-out" part
    py split_coco.py "$subset" "$WORK/train_unused_gt.json" "$WORK/train_subset_gt.json" \
      --every "$TRAIN_EVERY"
    subset=$WORK/train_subset_gt.json
  fi
  mix_gt "$subset"
  parts=()
  for i in "${!DRAWS[@]}"; do coarse_draw "$WORK/mix_gt.json" "$i" 0; done
  pf_rounds=${PF_ROUNDS:-0}
  if [ "$pf_rounds" -gt 0 ]; then
    # PF_ROUNDS more rounds of the five draws for Penn-Fudan's persons alone (same image ids)
    "$PYTHON" -c "import json, sys; g = json.load(open(sys.argv[1]))
ids = {i['id'] for i in g['images'] if i['file_name'].startswith('pennfudan/')}
json.dump(dict(g, images=[i for i in g['images'] if i['id'] in ids],
               annotations=[a for a in g['annotations'] if a['image_id'] in ids]),
          open(sys.argv[2], 'w'))" "$WORK/mix_gt.json" "$WORK/pf_gt.json"
    for round in $(seq "$pf_rounds"); do
      for i in "${!DRAWS[@]}"; do coarse_draw "$WORK/pf_gt.json" "$i" $((10 * round)); done
    done
  fi
  drawn_all
  fit "$ROOT/configs/bpr/hrnet18s_128_diverse.py" "${parts[@]}"
  release "$WORK/default.pth" "${ALPHA:-0.7}" ;;
cpu)
  # the options checked before any work
  cpu_photos=${CPU_PHOTOS:-all}
  case $cpu_photos in all | subset) ;;
    *) echo "CPU_PHOTOS is all or subset, not $cpu_photos" >&2; exit 2 ;;
  esac
  case ${CPU_DRAWS:-varied} in
    varied) ;;
    grid28) DRAWS=("28 0 0 0 1" "28 0 0 0 2" "28 0 0 0 3" "28 0 0 0 4" "28 0 0 0 5") ;;
    *) echo "CPU_DRAWS is varied or grid28, not $CPU_DRAWS" >&2; exit 2 ;;
  esac
  draw_offset=${DRAW_OFFSET:-0}
  [[ $draw_offset =~ ^[0-9]+$ ]] ||
    { echo "DRAW_OFFSET is a whole number, not $draw_offset" >&2; exit 2; }
  # the tuning split of `tune` for a run on every TRAIN_EVERY-th photograph (default 3, as
  # the default model's last GPU run) is left out; the rest is trained on
  py split_coco.py "$WORK/train_gt.json" "$WORK/train_unused_gt.json" \
    "$WORK/train_subset_gt.json" --every "${TRAIN_EVERY:-3}"
  py split_coco.py "$WORK/train_unused_gt.json" "$WORK/tune_rest_gt.json" \
    "$WORK/tune_gt.json" --every 16
  photos=("$WORK/train_subset_gt.json")
  [ "$cpu_photos" = subset ] || photos+=("$WORK/tune_rest_gt.json")
  mix_gt "${photos[@]}"
  # one draw per photograph (the i-th by file name gets draw i mod 5), all five per instance
  # of Penn-Fudan and COCO128: a fifth of the patches that five draws of each would give
  "$PYTHON" -c "import json, sys; g = json.load(open(sys.argv[1]))
duts = sorted(i['file_name'] for i in g['images'] if i['file_name'].startswith('duts_tr/'))
for k in range(5):
    drawn = set(duts[k::5])
    ids = {i['id'] for i in g['images']
           if not i['file_name'].startswith('duts_tr/') or i['file_name'] in drawn}
    json.dump(dict(g, images=[i for i in g['images'] if i['id'] in ids],
                   annotations=[a for a in g['annotations'] if a['image_id'] in ids]),
              open(f'{sys.argv[2]}{k}.json', 'w'))" "$WORK/mix_gt.json" "$WORK/mix_gt_draw"
  parts=()
  for i in "${!DRAWS[@]}"; do coarse_draw "$WORK/mix_gt_draw$i.json" "$i" "$draw_offset"; done
  drawn_all
  fit "${CPU_CONFIG:-$ROOT/configs/bpr/hrnet18s_128_diverse_cpu.py}" "${parts[@]}"
  release "$WORK/default.pth" "${ALPHA:-0.5}" ;;
tune)
  [ -f "$WORK/train_unused_gt.json" ] ||
    { echo "tune: run the train step with TRAIN_EVERY > 1 or the cpu step first" >&2; exit 2; }
  py split_coco.py "$WORK/train_unused_gt.json" "$WORK/tune_rest_gt.json" \
    "$WORK/tune_gt.json" --every 16
  py make_coarse.py "$WORK/tune_gt.json" "$WORK/tune_coarse.json" --seed 11
  outs=()
  for alpha in ${ALPHAS:-0.5 0.7 0.85}; do
    release "$WORK/tune_a$alpha.pth" "$alpha"
    IMG_DIR=$DATA/duts_tr/images GT_JSON=$WORK/tune_gt.json GPUS=$GPUS \
      sh "$ROOT/tools/inference_coco.sh" "$CONFIG" "$WORK/tune_a$alpha.pth" \
      "$WORK/tune_coarse.json" "$WORK/tune_refined_a$alpha.json"
    outs+=("tune_refined_a$alpha.json")
  done
  (cd "$WORK" && py eval.py tune_gt.json tune_coarse.json "${outs[@]}" \
    --out metrics_tune.json) ;;
*) echo "unknown step $step" >&2; exit 2 ;;
esac; done
