#!/usr/bin/env bash
# Install bpr and its stack into the active Python environment. Idempotent: what is already
# installed at a suitable version is kept, and the mmcv-full wheel built once is reused.
#
#   bash tools/install.sh                        # online
#   BPR_WHEELHOUSE=dir bash tools/install.sh     # offline, from tools/make_wheelhouse.sh's dir
#
# torch: an installed torch 2.x is kept (a cluster's own CUDA build is never replaced); with
# none, TORCH_SPEC is installed. Setting TORCH_SPEC explicitly installs it in any case.
# mmcv-full is built with its C++ ops only: BPR calls no mmcv CUDA op (its NMS runs on
# NumPy arrays), and that build needs no nvcc. FORCE_CUDA=1 builds the CUDA ops too.
#
# Environment: PYTHON (python3), BPR_WHEELHOUSE (offline: --no-index --find-links),
# BPR_WHEEL_CACHE (~/.cache/bpr/wheels), TORCH_SPEC ("torch==2.14.1 torchvision==0.29.1"),
# MAX_JOBS (compile jobs), FORCE_CUDA.
set -euo pipefail

PYTHON=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${BPR_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpr/wheels}
MMCV_VERSION=1.7.2
PIP_OPTS=(--disable-pip-version-check -q)
if [ -n "${BPR_WHEELHOUSE:-}" ]; then
  # pip's own variables reach every pip command, including the wheel build below
  BPR_WHEELHOUSE=$(cd "$BPR_WHEELHOUSE" && pwd)
  export PIP_NO_INDEX=1 PIP_FIND_LINKS=$BPR_WHEELHOUSE
fi
pip_() { "$PYTHON" -m pip "${PIP_OPTS[@]}" "$@"; }
version_of() { "$PYTHON" - "$1" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    pass
PY
}

# 1. torch, and the build tools mmcv-full 1.x needs (its setup.py imports pkg_resources).
torch_version=$(version_of torch)
if [ -n "${TORCH_SPEC:-}" ] || [ "${torch_version%%.*}" != 2 ]; then
  TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
  read -r -a torch_reqs <<<"$TORCH_SPEC"
  torch_ok=1
  for req in "${torch_reqs[@]}"; do
    [ "$(version_of "${req%%==*}")" = "${req##*==}" ] || torch_ok=0
  done
  [ "$torch_ok" = 1 ] || { echo "[install] $TORCH_SPEC"; pip_ install "${torch_reqs[@]}"; }
else
  echo "[install] keeping the installed torch $torch_version"
fi
pip_ install 'setuptools<81' wheel ninja

# 2. mmcv-full with its C++ (and with FORCE_CUDA=1 its CUDA) ops, built from the source release.
if [ "$(version_of mmcv-full)" != "$MMCV_VERSION" ]; then
  tag=$("$PYTHON" -c 'import sys, torch; print("torch%s-py%d%d" % (torch.__version__, *sys.version_info[:2]))')
  if [ "${FORCE_CUDA:-0}" = 1 ]; then ops=cuda; else ops=cpu; fi
  wheel_dir="$CACHE/mmcv-full-$MMCV_VERSION/$tag-$ops"
  if ! ls "$wheel_dir"/mmcv_full-*.whl >/dev/null 2>&1; then
    echo "[install] building mmcv-full $MMCV_VERSION ($tag, $ops ops); this takes several minutes"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    sdist=${BPR_WHEELHOUSE:+$BPR_WHEELHOUSE/mmcv-full-$MMCV_VERSION.tar.gz}
    if [ -z "$sdist" ]; then
      pip_ download --no-deps --no-binary :all: --no-build-isolation -d "$work" \
        "mmcv-full==$MMCV_VERSION"
      sdist=$work/mmcv-full-$MMCV_VERSION.tar.gz
    fi
    tar xzf "$sdist" -C "$work"
    src="$work/mmcv-full-$MMCV_VERSION"
    # mmcv 1.7 asks for C++17, but recent torch headers refuse anything below C++20.
    inc=$("$PYTHON" -c 'import torch.utils.cpp_extension as c; print(c.include_paths()[0])')
    if grep -qs '__cplusplus < 202002L' "$inc/ATen/ATen.h" "$inc/torch/csrc/api/include/torch/all.h"; then
      echo "[install] torch headers need C++20: building mmcv-full with -std=c++20"
      sed -i 's/-std=c++17/-std=c++20/g; s#/std:c++17#/std:c++20#g' "$src/setup.py"
    fi
    mkdir -p "$wheel_dir"
    # a visible GPU would make mmcv's setup.py compile its CUDA ops: hide it unless asked
    gpus=${CUDA_VISIBLE_DEVICES-}
    [ "$ops" = cuda ] || gpus=
    (cd "$src" && CUDA_VISIBLE_DEVICES=$gpus MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PYTHON" -m pip "${PIP_OPTS[@]}" wheel --no-deps --no-build-isolation -w "$wheel_dir" .)
  fi
  pip_ install --no-deps "$wheel_dir"/mmcv_full-*.whl
fi

# 3. The rest, then bpr itself (editable).
reqs=$ROOT/requirements.txt
numpy_version=$(version_of numpy)
if [ -n "${BPR_WHEELHOUSE:-}" ] && ! ls "$BPR_WHEELHOUSE"/numpy-* >/dev/null 2>&1 \
    && [ -n "$numpy_version" ]; then
  # offline without a numpy wheel: keep the installed numpy rather than fail
  echo "[install] keeping numpy $numpy_version" \
    "(cityscapesScripts' instance evaluation needs numpy<2.4)"
  reqs=$(mktemp)
  grep -v '^numpy' "$ROOT/requirements.txt" >"$reqs"
fi
pip_ install -r "$reqs"
pip_ install --no-deps --no-build-isolation -e "$ROOT"
"$PYTHON" -c 'import bpr, mmcv, mmseg, torch; from mmcv.ops import nms; print(f"[install] ok: torch {torch.__version__}, mmcv-full {mmcv.__version__}, mmseg {mmseg.__version__}, bpr {bpr.__version__}")'
