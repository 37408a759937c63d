#!/usr/bin/env bash
# bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args, e.g. --out X.pkl]
# GPUS processes per node: one per GPU (nccl), or CPU processes (gloo) where there is no GPU.
# Several nodes: NNODES, NODE_RANK, MASTER_ADDR, PORT, as in mmsegmentation (tools/launch.sh).
set -e
CONFIG=$1
CHECKPOINT=$2
GPUS=${3:-1}
shift $(($# < 3 ? $# : 3))
DIST=1 GPUS=$GPUS exec sh "$(dirname "$0")/launch.sh" "$(dirname "$0")/test.py" "$CONFIG" \
  "$CHECKPOINT" "$@"
