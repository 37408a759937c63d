#!/usr/bin/env bash
# bash tools/dist_train.sh CONFIG GPUS [train.py args]
# GPUS processes per node: one per GPU (nccl), or CPU processes (gloo) where there is no GPU.
# Several nodes: NNODES, NODE_RANK, MASTER_ADDR, PORT, as in mmsegmentation (tools/launch.sh).
set -e
CONFIG=$1
GPUS=${2:-1}
shift $(($# < 2 ? $# : 2))
DIST=1 GPUS=$GPUS exec sh "$(dirname "$0")/launch.sh" "$(dirname "$0")/train.py" "$CONFIG" "$@"
