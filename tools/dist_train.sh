#!/usr/bin/env bash
# bash tools/dist_train.sh CONFIG NUM_PROCESSES [train.py args]
# One process per GPU (nccl); on a machine without a GPU, NUM_PROCESSES CPU processes (gloo).
set -e
CONFIG=$1
GPUS=${2:-1}
PORT=${PORT:-29500}
shift 2 || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$ROOT:$PYTHONPATH" exec python -m torch.distributed.run \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
