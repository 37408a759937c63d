#!/usr/bin/env sh
# sh tools/launch.sh SCRIPT ARGS...: run a bpr tool on GPUS processes (torchrun) or just one.
set -e
BPR_ROOT=${BPR_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$BPR_ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ "${GPUS:-1}" -gt 1 ]; then
  exec "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" \
    --master_port="${PORT:-29500}" "$@" --launcher pytorch
fi
exec "$PYTHON" "$@"
