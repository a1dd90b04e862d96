#!/usr/bin/env bash
# make image: kubefort's container image as an OCI archive, dist/kubefort-image.tar
# (scripts/build_image.py does the work; docs/image-build.md). Needs root, mmdebstrap, umoci, skopeo.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in mmdebstrap umoci skopeo; do
  command -v "$t" >/dev/null 2>&1 || { bash scripts/ensure-image-tools.sh; break; }
done
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
exec "$PY" scripts/build_image.py "$@"
