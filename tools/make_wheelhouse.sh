#!/usr/bin/env bash
# Prepare a wheelhouse for an offline install of bpr, on a machine that reaches PyPI, for a
# target Python and platform (default: this machine's):
#
#   PY_VERSION=3.12 PLATFORM=x86_64 bash tools/make_wheelhouse.sh DIR
#   # copy DIR and the project to the target, then there:
#   BPR_WHEELHOUSE=DIR bash tools/install.sh
#
# Holds the wheels of requirements.txt and their dependencies, the build tools and the
# mmcv-full source release; not torch (the target keeps its own). SKIP="numpy scipy ..."
# leaves out packages the target already has (without numpy the target keeps its own).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bash $0 DIR" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$1
PY_VERSION=${PY_VERSION:-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}
PLATFORM=${PLATFORM:-$(uname -m)}
mkdir -p "$OUT"
target=(--only-binary=:all: --python-version "$PY_VERSION" --implementation cp)
for tag in manylinux_2_28 manylinux_2_17 manylinux2014; do
  target+=(--platform "${tag}_$PLATFORM")
done
pip_() { "$PYTHON" -m pip --disable-pip-version-check -q "$@"; }
pip_ download "${target[@]}" -d "$OUT" -r "$ROOT/requirements.txt" 'setuptools<81' wheel ninja
pip_ download --no-deps --no-binary :all: --no-build-isolation -d "$OUT" mmcv-full==1.7.2
for name in ${SKIP:-}; do
  rm -f "$OUT/$name"-*.whl "$OUT/${name//-/_}"-*.whl
done
echo "wheelhouse $OUT: $(ls "$OUT" | wc -l) files, $(du -sh "$OUT" | cut -f1)"
