#!/usr/bin/env sh
# sh tools/launch.sh SCRIPT ARGS...: run a bpr tool as one plain process, or under torchrun
# with GPUS processes per node (GPUs, or CPU processes where there is none) on NNODES nodes.
#
# Environment (the names of mmsegmentation's scripts): GPUS (1, per node), NNODES (1),
# NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500; on one node a free port when unset),
# PYTHON (python), DIST=1 (torchrun even for one process). BPR_VERBOSE=1 keeps torchrun's logs.
set -e
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$BPR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
GPUS=${GPUS:-1}
NNODES=${NNODES:-1}
if [ "${DIST:-0}" = 1 ] || [ "$GPUS" -gt 1 ] || [ "$NNODES" -gt 1 ]; then
  if [ "$NNODES" -gt 1 ] || [ -n "${PORT:-}" ]; then
    set -- --nnodes="$NNODES" --node_rank="${NODE_RANK:-0}" \
      --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" "$@"
  else
    # a free port: a second job on the same machine must not collide on torchrun's 29500
    set -- --standalone "$@"
  fi
  exec "$PYTHON" -m bpr.apis.launch --nproc_per_node="$GPUS" "$@" --launcher pytorch
fi
exec "$PYTHON" "$@"
