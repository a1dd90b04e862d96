#!/usr/bin/env bash
# make image-repro: builds the image twice from nothing (no cached Debian tarball, base layer or
# wheels: each build runs mmdebstrap and downloads again) and requires one image digest and one
# archive checksum. About 3 minutes. The quick check (cached base, rebuilt application layer) runs in
# make test: tests/image/test_own_image.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
digests=()
for n in 1 2; do
  rm -rf .cache/image-build
  digests+=("$("$PY" scripts/build_image.py --output "$out/image-$n.tar")")
done
sha1=$(sha256sum <"$out/image-1.tar") sha2=$(sha256sum <"$out/image-2.tar")
echo "image-repro: build 1 ${digests[0]}, build 2 ${digests[1]}"
if [ "${digests[0]}" != "${digests[1]}" ] || [ "$sha1" != "$sha2" ]; then
  echo "image-repro: NOT reproducible (compare the two archives' blobs: $out kept)" >&2
  trap - EXIT
  exit 1
fi
echo "image-repro: reproducible"
