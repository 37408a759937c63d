#!/usr/bin/env bash
# bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [test.py args, e.g. --out X.pkl]
# One process per GPU (nccl); on a machine without a GPU, NUM_PROCESSES CPU processes (gloo).
set -e
CONFIG=$1
CHECKPOINT=$2
GPUS=${3:-1}
PORT=${PORT:-29500}
shift 3 || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHONPATH="$ROOT:$PYTHONPATH" exec python -m torch.distributed.run \
  --nproc_per_node="$GPUS" --master_port="$PORT" \
  "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
