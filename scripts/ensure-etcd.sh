#!/usr/bin/env bash
# Installs the real etcd server and etcdctl (Debian etcd-server / etcd-client, etcd 3.4) that the
# etcd and backup tests start on 127.0.0.1, and restic (Debian restic) that the volume backup tests
# run against moto's S3 server. Idempotent: does nothing when `etcd`, `etcdctl` and `restic` are
# already on PATH. Needs root (apt-get); without root it only says what is missing (the tests then
# skip cleanly).
set -euo pipefail
if command -v etcd >/dev/null 2>&1 && command -v etcdctl >/dev/null 2>&1 && command -v restic >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-etcd: etcd/etcdctl/restic missing and not root: run 'apt-get install etcd-server etcd-client restic' (their tests will skip)" >&2
  exit 0
fi
echo "ensure-etcd: installing etcd-server etcd-client restic (Debian)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client restic >/dev/null
etcd --version | head -1
restic version
