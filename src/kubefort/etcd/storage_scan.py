"""``kubefort etcd secrets``: classify every stored value of some resources, live or from a snapshot."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from .classify import ENCRYPTED, STORAGES, StoredValue, classify, summarize
from .client import EtcdClient, TLSFiles, connect
from .server import LocalEtcd, etcdctl_restore

SHA256_TRAILER = 32


def resource_prefix(resource: str, etcd_prefix: str = "/registry") -> str:
    """``secrets`` -> ``/registry/secrets/``; ``example.com/widgets`` -> ``/registry/example.com/widgets/``."""
    r = resource.strip().strip("/")
    if not r or any(p in ("", ".", "..") for p in r.split("/")) or r.count("/") > 1:
        raise UsageError(f"--resource {resource!r}: give a resource like secrets, configmaps or GROUP/RESOURCE")
    return f"{etcd_prefix.rstrip('/')}/{r}/"


@dataclass(slots=True)
class StorageReport:
    source: str
    revision: int
    resources: list[str]
    values: list[StoredValue] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return summarize(self.values)

    @property
    def unencrypted(self) -> list[StoredValue]:
        return [v for v in self.values if v.storage == "identity"]

    @property
    def invalid(self) -> list[StoredValue]:
        return [v for v in self.values if v.problem]

    def key_names(self) -> dict[str, dict[str, int]]:
        """storage -> key name -> number of values (shows stale keys after a rotation)."""
        out: dict[str, dict[str, int]] = {s: {} for s in STORAGES if s in ENCRYPTED}
        for v in self.values:
            if v.storage in ENCRYPTED and v.key_name is not None:
                d = out[v.storage]
                d[v.key_name] = d.get(v.key_name, 0) + 1
        return {s: dict(sorted(d.items())) for s, d in out.items() if d}

    def exit_code(self) -> int:
        """1 when a value is stored unencrypted or in no known format; 0 otherwise."""
        return 1 if any(v.storage in ("identity", "unknown") for v in self.values) else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "revision": self.revision,
            "resources": self.resources,
            "keys": [v.to_dict() for v in self.values],
            "summary": self.summary(),
            "key_names": self.key_names(),
        }


def scan_storage(
    client: EtcdClient,
    resources: Sequence[str] = ("secrets",),
    *,
    etcd_prefix: str = "/registry",
    source: str | None = None,
) -> StorageReport:
    """Read every key under each resource prefix (one consistent revision) and classify its value."""
    prefixes = [resource_prefix(r, etcd_prefix) for r in resources]
    _, revision = client.count(prefixes[0].encode())
    rep = StorageReport(source=source or client.endpoint, revision=revision, resources=list(resources))
    for p in prefixes:
        for kv in client.iter_range(p.encode(), revision=revision, page=500):
            rep.values.append(classify(kv.key, kv.value))
    return rep


def scan_endpoints(
    endpoints: Sequence[str],
    tls: TLSFiles | None = None,
    resources: Sequence[str] = ("secrets",),
    *,
    etcd_prefix: str = "/registry",
) -> StorageReport:
    """:func:`scan_storage` on the first of ``endpoints`` that answers."""
    with connect(endpoints, tls) as c:
        return scan_storage(c, resources, etcd_prefix=etcd_prefix)


def snapshot_has_hash(path: str) -> bool:
    """A snapshot from ``etcdctl snapshot save``/the maintenance API ends with its SHA-256; a ``db`` file
    copied from a data directory does not (same test as etcdctl: size % 512 == 32)."""
    return os.path.getsize(path) % 512 == SHA256_TRAILER


@contextlib.contextmanager
def snapshot_etcd(snapshot: str, *, keep_dir: str | None = None) -> Iterator[LocalEtcd]:
    """Restore ``snapshot`` into a temporary data directory, start a loopback etcd on it, yield it, stop
    it and remove everything."""
    if not os.path.isfile(snapshot):
        raise UsageError(f"{snapshot}: no such snapshot file")
    work = tempfile.mkdtemp(prefix="kubefort-snap-", dir=keep_dir)
    try:
        srv = LocalEtcd(os.path.join(work, "data"), name="kubefort-restore", workdir=work)
        etcdctl_restore(
            snapshot,
            srv.data_dir,
            name=srv.name,
            peer_url=srv.peer_url,
            skip_hash_check=not snapshot_has_hash(snapshot),
        )
        with srv:
            srv.start()
            yield srv
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scan_snapshot(
    snapshot: str, resources: Sequence[str] = ("secrets",), *, etcd_prefix: str = "/registry"
) -> StorageReport:
    with snapshot_etcd(snapshot) as srv, srv.client() as c:
        return scan_storage(c, resources, etcd_prefix=etcd_prefix, source=f"snapshot:{snapshot}")
