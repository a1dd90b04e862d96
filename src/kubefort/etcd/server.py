"""A throw-away single-member etcd on 127.0.0.1: reading a snapshot offline, restore drills, tests.

Ports are chosen free at construction (client and peer), so a data directory can be prepared for
them first (``etcdctl snapshot restore`` records the member's peer URL). The process logs to a file in
its work directory; :meth:`LocalEtcd.stop` ends exactly the process it started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .client import EtcdClient, EtcdError, TLSFiles


def etcd_binaries() -> tuple[str | None, str | None]:
    """Paths of ``etcd`` and ``etcdctl`` on PATH (None when missing)."""
    return shutil.which("etcd"), shutil.which("etcdctl")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """Server-side TLS of the client listener: certificate, key, and optionally client-cert auth."""

    cert: str = ""
    key: str = ""
    trusted_ca: str | None = None
    client_cert_auth: bool = False
    auto_tls: bool = False  # --auto-tls: etcd makes a self-signed certificate (cert/key unused)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    env["ETCDCTL_API"] = "3"
    return env


def etcdctl_restore(
    snapshot: str,
    data_dir: str,
    *,
    name: str,
    peer_url: str,
    cluster_token: str = "etcd-cluster",
    skip_hash_check: bool = False,
    timeout: float = 600.0,
) -> None:
    """``etcdctl snapshot restore`` of ``snapshot`` into ``data_dir`` as a one-member cluster."""
    _, etcdctl = etcd_binaries()
    if not etcdctl:
        raise EtcdError("etcdctl not found on PATH (Debian: apt-get install etcd-client)")
    cmd = [
        etcdctl,
        "snapshot",
        "restore",
        snapshot,
        "--data-dir",
        data_dir,
        "--name",
        name,
        "--initial-cluster",
        f"{name}={peer_url}",
        "--initial-advertise-peer-urls",
        peer_url,
        "--initial-cluster-token",
        cluster_token,
    ]
    if skip_hash_check:
        cmd.append("--skip-hash-check")
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout, check=False)
    if p.returncode != 0:
        lines = [ln for ln in (p.stderr or p.stdout).strip().splitlines() if ln.strip()]
        raise EtcdError(f"etcdctl snapshot restore failed: {lines[-1] if lines else f'exit {p.returncode}'}")


class LocalEtcd:
    """One etcd process on loopback. ``data_dir=None``: a fresh temporary one (removed on stop)."""

    def __init__(
        self,
        data_dir: str | None = None,
        *,
        name: str = "kf",
        tls: ServerTLS | None = None,
        extra_args: Sequence[str] = (),
        workdir: str | None = None,
    ) -> None:
        etcd, _ = etcd_binaries()
        if not etcd:
            raise EtcdError("etcd not found on PATH (Debian: apt-get install etcd-server)")
        self.etcd = etcd
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="kubefort-etcd-")
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        self.name = name
        self.tls = tls
        self.extra_args = list(extra_args)
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(self.workdir, f"{name}.log")

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def command(self) -> list[str]:
        cmd = [
            self.etcd,
            "--name",
            self.name,
            "--data-dir",
            self.data_dir,
            "--listen-client-urls",
            self.client_url,
            "--advertise-client-urls",
            self.client_url,
            "--listen-peer-urls",
            self.peer_url,
            "--initial-advertise-peer-urls",
            self.peer_url,
            "--initial-cluster",
            f"{self.name}={self.peer_url}",
            "--listen-metrics-urls",
            f"http://127.0.0.1:{free_port()}",
        ]
        if self.tls and self.tls.auto_tls:
            cmd += ["--auto-tls"]
        elif self.tls:
            cmd += ["--cert-file", self.tls.cert, "--key-file", self.tls.key]
            if self.tls.trusted_ca:
                cmd += ["--trusted-ca-file", self.tls.trusted_ca]
            if self.tls.client_cert_auth:
                cmd += ["--client-cert-auth"]
        return cmd + self.extra_args

    def client(self, tls: TLSFiles | None = None, **kw: object) -> EtcdClient:
        return EtcdClient(self.client_url, tls, **kw)  # type: ignore[arg-type]

    def start(self, *, ready_tls: TLSFiles | None = None, timeout: float = 30.0) -> LocalEtcd:
        """Start and wait until the member is healthy (``ready_tls``: the client TLS to ask with)."""
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_env(),
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        with EtcdClient(
            self.client_url, ready_tls, timeout=2.0, verify=ready_tls is not None and bool(ready_tls.cacert)
        ) as c:
            while True:
                if self.proc.poll() is not None:
                    raise EtcdError(f"etcd exited with code {self.proc.returncode}: {self.log_tail()}")
                if c.health():
                    return self
                if time.monotonic() > deadline:
                    self.stop()
                    raise EtcdError(f"etcd not healthy after {timeout:.0f}s: {self.log_tail()}")
                time.sleep(0.05)

    def log_tail(self, lines: int = 3) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return " | ".join(ln.strip() for ln in fh.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalEtcd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
