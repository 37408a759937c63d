#!/usr/bin/env bash
# The GPU checks and figures of docs/benchmarks.md, on a CUDA machine with bpr installed:
#
#   bash tools/benchmarks/gpu.sh OUT_DIR [PART ...]
#
# PART: speed (1 and 4 below), tests (2), train (3); all of them by default.
# 1. refinement of generated Cityscapes-size images (2048x1024, 20 instances): ms per image
#    (end to end, and in flow) with 0 and 4 loader workers, the network's share, the paper's
#    breakdown, fp32, at the original's settings (64-px boxes, NMS IoU 0.25, no flip), with 4
#    workers pasting in processes (as refine_results does) and in a thread; the network's
#    time beside pasting in a thread and in a process; the time and GPU memory per pass at
#    64 to 1024 patches per forward pass (hrnet18s_128, hrnet48_256); then the default
#    model's own settings (48-px boxes growing with large objects, NMS IoU 0.55, flip), 4
#    workers;
# 2. pytest -m gpu (training on one GPU and with dist_train.sh, float32/float16/bfloat16,
#    resume, validation during training, dist_test.sh and inference equal to the CPU);
# 3. training seconds per iteration, float32 vs bfloat16 autocast at 32 and 64 patches per GPU,
#    then NCHW vs NHWC at 8, 32 and 64, and at 128 and 256 for hrnet18s_128;
# 4. the original's settings in fp16, 4 workers.
# Reports go to OUT_DIR (gpu_tests.txt, gpu_speed.md, steps.txt).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash $0 OUT_DIR [speed|tests|train ...]" >&2; exit 2; }
PARTS=" ${*:2} "
[ "$PARTS" != "  " ] || PARTS=" speed tests train "
for part in ${*:2}; do
  case $part in speed|tests|train) ;; *) echo "$0: unknown part '$part'" >&2; exit 2 ;; esac
done
want() { [[ $PARTS == *" $1 "* ]]; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python}
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
cd "$ROOT"
"$PYTHON" -c 'import torch; assert torch.cuda.is_available(), "no CUDA GPU"'
# most wanted first, each step timed in OUT_DIR/steps.txt; a failing test does not stop the
# figures, and the script's status is the tests' status
step() {
  local t=$SECONDS rc=0
  "$@" || rc=$?
  echo "$(( SECONDS - t )) s, status $rc: ${*:2:4}" >>"$OUT/steps.txt"
  return "$rc"
}
ORIGINAL=(--iou-thresh 0.25 --no-flip --patch-size 64 --patch-ratio 0)
if want speed; then
  step "$PYTHON" tools/benchmarks/bench_pipeline.py --images 16 --instances 20 --workers 0 4 \
    --paste auto thread --precision fp32 "${ORIGINAL[@]}" --out "$OUT/gpu_speed.md"
  step "$PYTHON" tools/benchmarks/bench_paste.py --device cuda "${ORIGINAL[@]}" \
    --out "$OUT/gpu_speed.md"
  step "$PYTHON" tools/benchmarks/bench_batch.py --device cuda --patches 1024 \
    --batch 256 1024 512 128 64 --out "$OUT/gpu_speed.md"
  step "$PYTHON" tools/benchmarks/bench_batch.py --device cuda \
    --config configs/bpr/hrnet48_256.py --checkpoint none --patches 512 --batch 256 512 64 \
    --repeat 2 --out "$OUT/gpu_speed.md"
  step "$PYTHON" tools/benchmarks/bench_pipeline.py --images 16 --instances 20 --workers 4 \
    --precision fp32 --out "$OUT/gpu_speed.md"
fi
tests=0
if want tests; then
  step "$PYTHON" -m pytest tests -m gpu -v -p no:cacheprovider >"$OUT/gpu_tests.txt" 2>&1 \
    || tests=$?
  tail -n 12 "$OUT/gpu_tests.txt"
fi
if want train; then
  step "$PYTHON" tools/benchmarks/bench_train.py --device cuda --batch 32 64 --iters 10 --amp bf16 \
    --configs configs/bpr/hrnet18s_128.py configs/bpr/hrnet48_256.py --out "$OUT/gpu_speed.md"
  step "$PYTHON" tools/benchmarks/bench_train.py --device cuda --batch 8 32 64 --iters 10 \
    --configs configs/bpr/hrnet18s_128.py configs/bpr/hrnet48_256.py --out "$OUT/gpu_speed.md"
  # the small network is bound by kernel launches at 64: what larger batches (--auto-scale-lr)
  # buy in patches per second
  step "$PYTHON" tools/benchmarks/bench_train.py --device cuda --batch 128 256 --iters 10 \
    --configs configs/bpr/hrnet18s_128.py --out "$OUT/gpu_speed.md"
fi
if want speed; then
  step "$PYTHON" tools/benchmarks/bench_pipeline.py --images 8 --instances 20 --workers 4 \
    --precision fp16 "${ORIGINAL[@]}" --out "$OUT/gpu_speed.md"
fi
exit "$tests"
