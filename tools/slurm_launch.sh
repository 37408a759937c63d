#!/usr/bin/env bash
# bash tools/slurm_launch.sh PARTITION JOB_NAME SCRIPT [ARGS...]: run a bpr tool with srun,
# one task per GPU, on as many nodes as GPUS / GPUS_PER_NODE (as mmsegmentation 0.x does).
# Ranks and the master node come from SLURM's environment (--launcher slurm).
#
#   GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_launch.sh dev bpr tools/refine_coco.py \
#     CONFIG CKPT coarse.json refined.json --img-dir IMG --gt-json GT
#
# Environment: GPUS (4), GPUS_PER_NODE (4), CPUS_PER_TASK (5), GRES (gpu:GPUS_PER_NODE; set it
# empty on CPU nodes), SRUN_ARGS, PORT (MASTER_PORT, 29500), PYTHON (python).
set -e
[ $# -ge 3 ] || { echo "usage: bash $0 PARTITION JOB_NAME SCRIPT [ARGS...]" >&2; exit 2; }
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
shift 3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
GRES=${GRES-gpu:$GPUS_PER_NODE}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export MASTER_PORT=${MASTER_PORT:-${PORT:-29500}}
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
exec srun -p "$PARTITION" --job-name="$JOB_NAME" ${GRES:+--gres="$GRES"} \
  --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 ${SRUN_ARGS:-} "${PYTHON:-python}" -u "$SCRIPT" "$@" --launcher slurm
