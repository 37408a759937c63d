#!/usr/bin/env bash
# Install bpr and its stack into the active Python environment. Idempotent: what is already
# installed at the right version is kept, and the mmcv-full wheel built once is reused.
#
#   bash tools/install.sh            # CPU machine, or CUDA machine (ops built for the visible GPU)
#   FORCE_CUDA=1 bash tools/install.sh   # build mmcv-full's CUDA ops without a visible GPU
#
# Environment: PYTHON (default: python3), BPR_WHEEL_CACHE (default: ~/.cache/bpr/wheels),
# TORCH_SPEC (default: "torch==2.14.1 torchvision==0.29.1"), MAX_JOBS (compile jobs).
set -euo pipefail

PYTHON=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${BPR_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpr/wheels}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
MMCV_VERSION=1.7.2
pip_() { "$PYTHON" -m pip --disable-pip-version-check -q "$@"; }
have() { "$PYTHON" - "$@" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PY
}

# 1. torch, and the build tools mmcv-full 1.x needs (its setup.py imports pkg_resources).
read -r -a torch_reqs <<<"$TORCH_SPEC"
torch_ok=1
for req in "${torch_reqs[@]}"; do have "${req%%==*}" "${req##*==}" || torch_ok=0; done
[ "$torch_ok" = 1 ] || { echo "[install] $TORCH_SPEC"; pip_ install "${torch_reqs[@]}"; }
pip_ install 'setuptools<81' wheel ninja

# 2. mmcv-full with its C++ (and, where available, CUDA) ops, built from the source release.
if ! have mmcv-full "$MMCV_VERSION"; then
  tag=$("$PYTHON" -c 'import sys, torch; print("torch%s-py%d%d" % (torch.__version__, *sys.version_info[:2]))')
  cuda=$("$PYTHON" -c 'import os, torch; print("cuda" if torch.cuda.is_available() or os.environ.get("FORCE_CUDA") == "1" else "cpu")')
  wheel_dir="$CACHE/mmcv-full-$MMCV_VERSION/$tag-$cuda"
  if ! ls "$wheel_dir"/mmcv_full-*.whl >/dev/null 2>&1; then
    echo "[install] building mmcv-full $MMCV_VERSION ($tag, $cuda ops); this takes several minutes"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    pip_ download --no-deps --no-binary :all: --no-build-isolation -d "$work" "mmcv-full==$MMCV_VERSION"
    tar xzf "$work"/mmcv-full-$MMCV_VERSION.tar.gz -C "$work"
    src="$work/mmcv-full-$MMCV_VERSION"
    # mmcv 1.7 asks for C++17, but recent torch headers refuse anything below C++20.
    inc=$("$PYTHON" -c 'import torch.utils.cpp_extension as c; print(c.include_paths()[0])')
    if grep -qs '__cplusplus < 202002L' "$inc/ATen/ATen.h" "$inc/torch/csrc/api/include/torch/all.h"; then
      echo "[install] torch headers need C++20: building mmcv-full with -std=c++20"
      sed -i 's/-std=c++17/-std=c++20/g; s#/std:c++17#/std:c++20#g' "$src/setup.py"
    fi
    mkdir -p "$wheel_dir"
    (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PYTHON" -m pip wheel --no-deps --no-build-isolation -w "$wheel_dir" .)
  fi
  pip_ install --no-deps "$wheel_dir"/mmcv_full-*.whl
fi

# 3. The rest, then bpr itself (editable).
pip_ install -r "$ROOT/requirements.txt"
pip_ install --no-deps --no-build-isolation -e "$ROOT"
"$PYTHON" -c 'import mmcv, mmseg, bpr; from mmcv.ops import nms; print(f"[install] ok: mmcv-full {mmcv.__version__}, mmseg {mmseg.__version__}, bpr {bpr.__version__}")'
