#!/usr/bin/env bash
# GPUS=8 GPUS_PER_NODE=8 bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [ARGS]
# srun, one task per GPU (see tools/slurm_launch.sh for the environment).
set -e
[ $# -ge 4 ] || {
  echo "usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT [ARGS...]" >&2; exit 2; }
PARTITION=$1 JOB_NAME=$2 CONFIG=$3 CHECKPOINT=$4
shift 4
exec bash "$(dirname "$0")/slurm_launch.sh" "$PARTITION" "$JOB_NAME" \
  "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" "$@"
