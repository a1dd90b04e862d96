"""What of a pod reaches into its node: the capabilities, host paths and container runtime sockets that
the pod rules (KF-POD-008, KF-POD-009, KF-POD-012) judge and the attack graph (analysis.graph) turns
into container-escape edges. Kept in the model so that both read one list."""

from __future__ import annotations

import functools
import posixpath

#: Capabilities that give a container (near) host-level power (KF-POD-012).
DANGEROUS_CAPABILITIES = frozenset(
    {
        "ALL",
        "SYS_ADMIN",
        "NET_ADMIN",
        "SYS_MODULE",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_BOOT",
        "SYS_TIME",
        "BPF",
        "PERFMON",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "NET_RAW",
    }
)

#: Default of the ``sensitive_host_paths`` parameter (KF-POD-008).
SENSITIVE_HOST_PATHS = (
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/proc",
    "/sys",
    "/usr",
    "/root",
    "/home/admin",
    "/var/lib/docker",
    "/var/lib/kubelet",
    "/var/lib/kubelet/pki",
    "/etc/kubernetes",
    "/etc/kubernetes/manifests",
    "/var/lib/etcd",
)

#: Container runtime sockets (KF-POD-009). ``/var/run`` is a symlink to ``/run`` on every current
#: distribution, so each socket is matched under both spellings.
_RUNTIME_SOCKETS_LISTED = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
    "/var/run/crio/crio.sock",
    "/run/crio/crio.sock",
    "/var/run/cri-dockerd.sock",
    "/var/run/dockershim.sock",
)


def _run_aliases(path: str) -> set[str]:
    out = {path}
    if path.startswith("/var/run/"):
        out.add(path[len("/var") :])
    elif path.startswith("/run/"):
        out.add("/var" + path)
    return out


RUNTIME_SOCKETS = frozenset(p for s in _RUNTIME_SOCKETS_LISTED for p in _run_aliases(s))


@functools.lru_cache(maxsize=4096)  # a pure function of a short string, asked by several rules per volume
def norm_host_path(path: str) -> str:
    """``/etc/`` -> ``/etc``; ``//var//lib/./docker`` -> ``/var/lib/docker``; ``/`` stays ``/``."""
    p = path.strip()
    if not p.startswith("/"):
        return posixpath.normpath(p) if p else p
    p = posixpath.normpath("/" + p.lstrip("/"))
    return "/" + p.lstrip("/")


def covers(parent: str, child: str) -> bool:
    """``parent`` equals ``child`` or is one of its ancestor directories."""
    if parent == child:
        return True
    prefix = parent if parent.endswith("/") else parent + "/"
    return child.startswith(prefix)
