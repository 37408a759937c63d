#!/usr/bin/env bash
# Reproduce docs/benchmarks.md on Penn-Fudan (+ COCO128 for training), on CPU processes.
#
#   DATA=path/to/data WORK=/tmp/bpr_bench bash tools/benchmarks/pennfudan.sh [STEP...]
#
# DATA holds pennfudan/{images,annotations} and coco128/{images,annotations} (COCO form).
# Steps (default: all but the training ones): data train refine ablate ties small seen nomask
# pedestrians speed pictures errors.
# `train` takes about 130 minutes on 2 CPU cores and overwrites CKPT; `nomask` (the mask-channel
# ablation) trains stage 1 again without the mask branch (about 60 minutes); `pedestrians`
# fine-tunes CKPT on Penn-Fudan patches only (about 25 minutes; after `data` and `refine`).
# CKPT (default: checkpoints/bpr_hrnet18s_128_default.pth) is the model evaluated.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${DATA:?set DATA to the folder holding pennfudan/ and coco128/}"
WORK=${WORK:-/tmp/bpr_bench}
CKPT=${CKPT:-$ROOT/checkpoints/bpr_hrnet18s_128_default.pth}
CONFIG=$ROOT/configs/bpr/hrnet18s_128.py
GPUS=${GPUS:-2}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
STEPS=${*:-data refine ablate ties small seen speed pictures errors}
mkdir -p "$WORK"
py() { "$PYTHON" "$ROOT/tools/$1" "${@:2}"; }
concat() {  # concat OUT IN...: one COCO results file
  "$PYTHON" -c "import json, sys; json.dump(sum((json.load(open(f)) for f in sys.argv[2:]), []),
    open(sys.argv[1], 'w'))" "$@"
}
refine() {  # refine COARSE OUT [CONFIG CKPT [OPTIONS]]
  IMG_DIR=$DATA GT_JSON=$WORK/val_gt.json GPUS=$GPUS sh "$ROOT/tools/inference_coco.sh" \
    "${3:-$CONFIG}" "${4:-$CKPT}" "$1" "$2" "${@:5}"
}
fit() {  # fit CONFIG DATASET WORK_DIR SEED ITERS LR [dist_train.sh options]
  DATA_ROOT=$WORK/$2/patches bash "$ROOT/tools/dist_train.sh" "$1" "$GPUS" --work-dir "$3" \
    --no-validate --seed "$4" "${@:7}" --cfg-options model.pretrained=None \
    runner.max_iters="$5" optimizer.lr="$6" log_config.interval=50 data.workers_per_gpu=1 \
    checkpoint_config.interval=500
}
prepare() {  # prepare DATASET COARSE: the patch dataset $WORK/DATASET of $WORK/COARSE.json
  IMG_DIR_TRAIN=$DATA IMG_DIR_VAL=$DATA GT_JSON_TRAIN=$WORK/train_gt.json \
    GT_JSON_VAL=$WORK/val_gt.json IOU_THRESH=0.25 \
    sh "$ROOT/tools/prepare_dataset_coco.sh" "$WORK/$2.json" "$WORK/val_coarse.json" "$WORK/$1"
}
stage1() {  # stage1 CONFIG WORK_DIR: grid-28 coarse masks, from scratch
  fit "$1" ds "$2" 0 3500 0.02
}

for step in $STEPS; do case $step in
data)
  py combine_coco.py "$WORK/train_gt.json" \
    "$DATA/pennfudan/annotations/instances_train.json:pennfudan/images/" \
    "$DATA/coco128/annotations/instances.json:coco128/images/"
  py combine_coco.py "$WORK/val_gt.json" \
    "$DATA/pennfudan/annotations/instances_val.json:pennfudan/images/"
  py make_coarse.py "$WORK/train_gt.json" "$WORK/train_coarse.json" --seed 1
  py make_coarse.py "$WORK/train_gt.json" "$WORK/train_coarse_g12.json" --grid 12 \
    --jitter 0.1 --seed 3
  py make_coarse.py "$WORK/train_gt.json" "$WORK/train_coarse_g14.json" --grid 14 \
    --jitter 0.08 --seed 4
  py make_coarse.py "$WORK/train_gt.json" "$WORK/train_coarse_s5.json" --seed 5
  concat "$WORK/train_coarse_mix.json" "$WORK/train_coarse.json" "$WORK/train_coarse_g12.json"
  concat "$WORK/train_coarse_mix3.json" "$WORK/train_coarse.json" \
    "$WORK/train_coarse_g12.json" "$WORK/train_coarse_g14.json" "$WORK/train_coarse_s5.json"
  py make_coarse.py "$WORK/val_gt.json" "$WORK/val_coarse.json" --seed 2
  py make_coarse.py "$WORK/val_gt.json" "$WORK/val_coarse_g14.json" --grid 14 --seed 2
  for ds in ds:train_coarse ds2:train_coarse_mix ds3:train_coarse_mix3; do
    prepare "${ds%%:*}" "${ds#*:}"
  done ;;
train)
  # stage 1: grid-28 coarse masks; its iteration-2000 checkpoint starts stage 2
  stage1 "$CONFIG" "$WORK/train"
  # stage 2: grid-28 and coarser grid-12 masks, so that the image has to be used
  fit "$CONFIG" ds2 "$WORK/train_ft" 1 2500 0.02 --load-from "$WORK/train/iter_2000.pth"
  # stage 3: twice the patches (two more coarse-mask draws, one of them grid 14), lower lr
  fit "$CONFIG" ds3 "$WORK/train_s3" 3 4000 0.01 --load-from "$WORK/train_ft/iter_2500.pth"
  "$PYTHON" "$ROOT/tools/publish_model.py" "$WORK/train_s3/iter_4000.pth" "$CKPT" --fp16 ;;
refine)
  for g in "" _g14; do
    refine "$WORK/val_coarse$g.json" "$WORK/val_refined$g.json"
    py upper_bound.py "$WORK/val_coarse$g.json" "$WORK/val_gt.json" "$WORK/val_upper$g.json" \
      --checkpoint "$CKPT"
    for k in 2 4; do  # a perfect network with hrnet18s_128's output resolution (2), and half
      py upper_bound.py "$WORK/val_coarse$g.json" "$WORK/val_gt.json" \
        "$WORK/val_upper_s$k$g.json" --stride $k --checkpoint "$CKPT"
    done
    for b in 1 2 3; do
      py upper_bound.py "$WORK/val_coarse$g.json" "$WORK/val_gt.json" \
        "$WORK/val_band$b$g.json" --band $b
    done
    (cd "$WORK" && py eval.py val_gt.json val_coarse$g.json val_refined$g.json \
      val_band1$g.json val_band2$g.json val_band3$g.json val_upper$g.json \
      val_upper_s2$g.json val_upper_s4$g.json --out metrics_main$g.json)
  done ;;
ablate)
  # one setting changed at a time from NMS IoU 0.25 without flip and boxes of one size,
  # whatever CKPT's own are
  ablation() { IOU_THRESH=${IOU_THRESH:-0.25} FLIP=${FLIP:-0} PATCH_RATIO=0 refine "$@"; }
  for t in 0.25 0.45 0.55; do
    IOU_THRESH=$t ablation "$WORK/val_coarse.json" "$WORK/val_nms$t.json"; done
  for p in 32 96; do
    PATCH_SIZE=$p ablation "$WORK/val_coarse.json" "$WORK/val_patch$p.json"; done
  PADDING=5 ablation "$WORK/val_coarse.json" "$WORK/val_pad5.json"
  FLIP=1 ablation "$WORK/val_coarse.json" "$WORK/val_flip.json"
  SAMPLING=grid ablation "$WORK/val_coarse.json" "$WORK/val_grid.json"
  py upper_bound.py "$WORK/val_coarse.json" "$WORK/val_gt.json" "$WORK/val_upper_grid.json" \
    --sampling grid
  (cd "$WORK" && py eval.py val_gt.json val_coarse.json val_nms0.25.json val_nms0.45.json \
    val_nms0.55.json val_patch32.json val_patch96.json val_pad5.json val_flip.json \
    val_grid.json val_upper.json val_upper_grid.json --out metrics_ablation.json)
  # a second pass: the refined masks (refine step) as coarse input
  for g in "" _g14; do refine "$WORK/val_refined$g.json" "$WORK/val_refined2$g.json"; done
  (cd "$WORK" && py eval.py val_gt.json val_coarse.json val_refined.json val_refined2.json \
    val_coarse_g14.json val_refined_g14.json val_refined2_g14.json --out metrics_twice.json)
  # patches per setting
  "$PYTHON" - "$WORK/val_gt.json" "$WORK/val_coarse.json" <<'PY'
import json, sys
from bpr.core import PatchConfig, decode, extract_instance
sizes = {img['id']: (img['height'], img['width']) for img in json.load(open(sys.argv[1]))['images']}
masks = [decode(r['segmentation'], *sizes[r['image_id']]) for r in json.load(open(sys.argv[2]))]
for name, cfg in [('nms0.25', PatchConfig(64, 0, 0.25)), ('nms0.45', PatchConfig(64, 0, 0.45)),
                  ('nms0.55', PatchConfig(64, 0, 0.55)), ('patch32', PatchConfig(32, 0, 0.25)),
                  ('patch96', PatchConfig(96, 0, 0.25)), ('grid', PatchConfig(sampling='grid'))]:
    print(f'patches {name}: {sum(extract_instance(m, cfg).num for m in masks)}')
PY
  ;;
ties)
  # the original's tie-break (default) vs the stable one: patches, metrics, time per image
  for g in "" _g14; do for s in nms nms_stable; do
    SAMPLING=$s refine "$WORK/val_coarse$g.json" "$WORK/val_ties_$s$g.json" "$CONFIG" "$CKPT" \
      --min-size 0; done; done
  (cd "$WORK" && py eval.py val_gt.json val_coarse.json val_ties_nms.json \
    val_ties_nms_stable.json val_coarse_g14.json val_ties_nms_g14.json \
    val_ties_nms_stable_g14.json --out metrics_ties.json)
  for g in "" _g14; do
    py benchmarks/bench_ties.py "$WORK/val_gt.json" "$WORK/val_coarse$g.json" "$DATA" \
      --repeat 3
  done ;;
small)
  # min_size (after ties): instances below it keep their coarse mask. Penn-Fudan val, and
  # COCO128 for its many small objects (seen in training: a check that it does no harm there)
  for g in "" _g14; do
    "$PYTHON" "$ROOT/tools/benchmarks/compose_min_size.py" "$WORK/val_coarse$g.json" \
      "$WORK/val_ties_nms$g.json" "$WORK/val${g}_min" 64 96 128 160 192 256
    py upper_bound.py "$WORK/val_coarse$g.json" "$WORK/val_gt.json" \
      "$WORK/val_upper_min192$g.json" --min-size 192 --checkpoint "$CKPT"
    (cd "$WORK" && py eval.py val_gt.json val_coarse$g.json val_ties_nms$g.json \
      val${g}_min64.json val${g}_min96.json val${g}_min128.json val${g}_min160.json \
      val${g}_min192.json val${g}_min256.json val_upper_min192$g.json \
      --out metrics_small$g.json)
  done
  py combine_coco.py "$WORK/coco128_gt.json" \
    "$DATA/coco128/annotations/instances.json:coco128/images/"
  py make_coarse.py "$WORK/coco128_gt.json" "$WORK/coco128_coarse.json" --seed 21
  IMG_DIR=$DATA GT_JSON=$WORK/coco128_gt.json GPUS=$GPUS sh "$ROOT/tools/inference_coco.sh" \
    "$CONFIG" "$CKPT" "$WORK/coco128_coarse.json" "$WORK/coco128_refined.json" --min-size 0
  "$PYTHON" "$ROOT/tools/benchmarks/compose_min_size.py" "$WORK/coco128_coarse.json" \
    "$WORK/coco128_refined.json" "$WORK/coco128_min" 32 64 96 128
  (cd "$WORK" && py eval.py coco128_gt.json coco128_coarse.json coco128_refined.json \
    coco128_min32.json coco128_min64.json coco128_min96.json coco128_min128.json \
    --out metrics_small_coco128.json) ;;
seen)
  # the same measurement on Penn-Fudan train: images seen in training, new coarse draws
  py combine_coco.py "$WORK/pf_train_gt.json" \
    "$DATA/pennfudan/annotations/instances_train.json:pennfudan/images/"
  for g in 28 14; do
    py make_coarse.py "$WORK/pf_train_gt.json" "$WORK/pf_train_coarse_$g.json" --grid $g --seed 7
    IMG_DIR=$DATA GT_JSON=$WORK/pf_train_gt.json GPUS=$GPUS sh "$ROOT/tools/inference_coco.sh" \
      "$CONFIG" "$CKPT" "$WORK/pf_train_coarse_$g.json" "$WORK/pf_train_refined_$g.json"
  done
  (cd "$WORK" && py eval.py pf_train_gt.json pf_train_coarse_28.json pf_train_refined_28.json \
    pf_train_coarse_14.json pf_train_refined_14.json --out metrics_seen.json) ;;
pedestrians)
  # not in the default model: CKPT fine-tuned on the Penn-Fudan part of stage 3's coarse draws
  "$PYTHON" - "$WORK/train_gt.json" "$WORK/train_coarse_mix3.json" "$WORK/train_coarse_pf.json" <<'PY'
import json, sys
ids = {img['id'] for img in json.load(open(sys.argv[1]))['images']
       if img['file_name'].startswith('pennfudan/')}
json.dump([r for r in json.load(open(sys.argv[2])) if r['image_id'] in ids], open(sys.argv[3], 'w'))
PY
  prepare ds_pf train_coarse_pf
  fit "$CONFIG" ds_pf "$WORK/train_pf" 4 1500 0.005 --load-from "$CKPT"
  for g in "" _g14; do
    refine "$WORK/val_coarse$g.json" "$WORK/val_pf$g.json" "$CONFIG" "$WORK/train_pf/iter_1500.pth"
  done
  (cd "$WORK" && py eval.py val_gt.json val_coarse.json val_refined.json val_pf.json \
    val_coarse_g14.json val_refined_g14.json val_pf_g14.json --out metrics_pedestrians.json) ;;
nomask)
  # same stage-1 run without the mask branch; both arms compared at iteration 1000
  [ -f "$WORK/train/iter_1000.pth" ] || stage1 "$CONFIG" "$WORK/train"
  stage1 "$ROOT/configs/bpr/hrnet18s_128_nomask.py" "$WORK/train_nomask"
  for c in val_coarse val_coarse_g14; do
    refine "$WORK/$c.json" "$WORK/${c}_mask1000.json" "$CONFIG" "$WORK/train/iter_1000.pth"
    refine "$WORK/$c.json" "$WORK/${c}_nomask1000.json" \
      "$ROOT/configs/bpr/hrnet18s_128_nomask.py" "$WORK/train_nomask/iter_1000.pth"
  done
  (cd "$WORK" && py eval.py val_gt.json val_coarse.json val_coarse_mask1000.json \
    val_coarse_nomask1000.json val_coarse_g14.json val_coarse_g14_mask1000.json \
    val_coarse_g14_nomask1000.json --out metrics_nomask.json) ;;
speed)
  py benchmarks/bench_speed.py "$WORK/val_gt.json" "$WORK/val_coarse.json" "$DATA" \
    --max-images 42 --network-images 5 --repeat 3
  py benchmarks/bench_train.py --configs "$CONFIG" "$ROOT/configs/bpr/hrnet48_256.py" \
    --iters 3 --repeat 3
  py benchmarks/bench_eval.py "$WORK/train_gt.json" "$WORK/train_coarse.json" --repeat 3
  py benchmarks/bench_cityscapes.py --images 8 --masks 50 --repeat 3 ;;
pictures)
  # (after refine) the val images with the largest Boundary-IoU gains, 28x28 coarse input
  py visualize.py "$WORK/val_gt.json" "$DATA" "$WORK/val_coarse.json" \
    "$WORK/val_refined.json" "$WORK/pictures" --best --num "${NUM:-6}" --crop --gt \
    --checkpoint "$CKPT" ;;
errors)
  # (after refine) where the remaining errors lie: AP per threshold, pixels by distance
  (cd "$WORK" && "$PYTHON" "$ROOT/tools/benchmarks/error_bands.py" val_gt.json \
    val_coarse.json val_refined.json val_upper_s2.json val_upper_s4.json)
  # the refined masks against finer mask heads: the coarse recipe at G x G grids
  grids=()
  for g in 32 36 40 42 56; do
    py make_coarse.py "$WORK/val_gt.json" "$WORK/val_grid$g.json" --grid "$g" --seed 2
    grids+=("val_grid$g.json")
  done
  (cd "$WORK" && py eval.py val_gt.json val_coarse.json val_refined.json "${grids[@]}") ;;
*) echo "unknown step $step" >&2; exit 2 ;;
esac; done
