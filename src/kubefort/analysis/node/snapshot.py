"""The ``NodeSnapshot`` object: what a node's files say that no Kubernetes object says.

``kubefort node audit`` builds one from a node (or from a copy of its files under ``--root``); it
can also be written by hand or dumped and scanned again, since it is an ordinary document::

    apiVersion: kubefort.io/v1alpha1
    kind: NodeSnapshot
    metadata: {name: cp-1}
    accounts:                      # from <root>/etc/passwd and etc/group, when present
      users: {root: 0, etcd: 998}
      groups: {root: 0, etcd: 998}
    files:                         # mode and owner of every file the checks look at
      /etc/kubernetes/manifests/kube-apiserver.yaml: {type: file, mode: "0600", uid: 0, gid: 0, owner: root, group: root}
      /etc/kubernetes/enc/missing.yaml: {type: missing}
    certificates:                  # facts, never key material
      - {path: /etc/kubernetes/pki/apiserver.crt, subject: CN=kube-apiserver, issuer: CN=kubernetes,
         notAfter: "2027-05-01T10:00:00Z", keyType: RSA, keyBits: 2048, signatureHash: sha256, ca: false,
         selfSigned: false, usedBy: ["kube-apiserver --tls-cert-file"]}
    configs:                       # component config files that are not Kubernetes objects (etcd --config-file)
      /etc/etcd/etcd.conf.yml: {...}
    staticPodPath: /etc/kubernetes/manifests
    kubelet:                       # the kubelet: its flags (systemd unit or process) and its config file
      source: /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
      args: ["--kubeconfig=/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml"]
      config: {...KubeletConfiguration...}

Paths are as on the node (absolute); modes are octal strings. The other components are not in the
snapshot: their static pod manifests (or, for processes and systemd units, synthetic Pods) are
objects of their own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...model.objects import K8sObject, Path, Source, get_path
from ...model.source import DocumentText, Location
from .flags import Flags, parse_bool, parse_duration, parse_feature_gates, parse_flags, split_list

SNAPSHOT_API = "kubefort.io/v1alpha1"
SNAPSHOT_KIND = "NodeSnapshot"


# -- locations ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the part of a synthetic object below ``prefix`` came from: a file (and the document
    whose lines it maps to, or a fixed line)."""

    file: str
    doc: DocumentText | None = None
    doc_prefix: Path = ()
    line: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class NodeSource(Source):
    """The source of an object built from several files (a snapshot, a Pod made from a process or a
    systemd unit): each part of the object points at the file (and line) it was read from."""

    anchors: Mapping[Path, Anchor] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int] = ()) -> Location:
        p = tuple(path)
        for k in range(len(p), -1, -1):
            a = self.anchors.get(p[:k])
            if a is not None:
                if a.doc is not None:
                    return Location(file=a.file, line=a.doc.line_of(a.doc_prefix + p[k:]))
                return Location(file=a.file, line=a.line)
        return Location(file=self.file)


# -- file facts ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileFact:
    path: str
    type: str  # file | dir | missing | error
    mode: int | None
    uid: int | None
    gid: int | None
    owner: str | None
    group: str | None
    sha256: str | None = None
    error: str | None = None

    @property
    def exists(self) -> bool:
        return self.type in ("file", "dir")

    @property
    def mode_text(self) -> str:
        return f"{self.mode:04o}" if self.mode is not None else "?"

    @property
    def owner_text(self) -> str:
        o = self.owner if self.owner is not None else (str(self.uid) if self.uid is not None else "?")
        g = self.group if self.group is not None else (str(self.gid) if self.gid is not None else "?")
        return f"{o}:{g}"

    def too_open(self, allowed: int) -> bool:
        """Catalogue legend 10: any permission bit outside the mask (setuid/setgid/sticky included)."""
        return self.mode is not None and (self.mode & 0o7777 & ~allowed) != 0

    def owned_by(self, user: str, group: str, uid: int | None = None, gid: int | None = None) -> bool | None:
        """Owner and group compared by name, falling back to the numeric id (0 for root). None: unknown."""
        return _is(self.owner, self.uid, user, uid) and _is(self.group, self.gid, group, gid)


def _is(name: str | None, num: int | None, want: str, want_id: int | None) -> bool:
    if name is not None and name == want:
        return True
    if want_id is None and want == "root":
        want_id = 0
    return want_id is not None and num is not None and num == want_id


def parse_mode(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 8)
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def file_fact(path: str, raw: Any) -> FileFact:
    if not isinstance(raw, dict):
        return FileFact(path, "error", None, None, None, None, None, error="not a mapping")
    t = raw.get("type")
    if not isinstance(t, str):
        t = "file"
    return FileFact(
        path=path,
        type=t,
        mode=parse_mode(raw.get("mode")),
        uid=_int(raw.get("uid")),
        gid=_int(raw.get("gid")),
        owner=_str(raw.get("owner")),
        group=_str(raw.get("group")),
        sha256=_str(raw.get("sha256")),
        error=_str(raw.get("error")),
    )


@dataclass(frozen=True, slots=True)
class CertFact:
    index: int
    raw: Mapping[str, Any]

    @property
    def path(self) -> str:
        return str(self.raw.get("path") or "?")

    @property
    def where(self) -> str:
        """The file, and the place inside it for embedded or bundled certificates."""
        w = self.raw.get("within")
        return f"{self.path} ({w})" if isinstance(w, str) and w else self.path

    def get(self, key: str) -> Any:
        return self.raw.get(key)


def is_snapshot(obj: K8sObject) -> bool:
    return obj.kind == SNAPSHOT_KIND and obj.api_version.startswith("kubefort.io/")


class NodeView:
    """Typed access to a ``NodeSnapshot`` object."""

    __slots__ = ("obj", "raw")

    def __init__(self, obj: K8sObject) -> None:
        self.obj = obj
        self.raw = obj.raw

    @property
    def name(self) -> str:
        return self.obj.name

    def _files(self) -> Mapping[str, Any]:
        f = self.raw.get("files")
        return f if isinstance(f, dict) else {}

    def file(self, path: str) -> FileFact | None:
        raw = self._files().get(path)
        return None if raw is None else file_fact(path, raw)

    def file_path(self, path: str) -> Path:
        return ("files", path)

    def files_under(self, directory: str) -> list[FileFact]:
        d = directory.rstrip("/")
        return [
            file_fact(p, r)
            for p, r in sorted(self._files().items())
            if isinstance(p, str) and (p == d or p.startswith(d + "/"))
        ]

    def certificates(self) -> list[CertFact]:
        certs = self.raw.get("certificates")
        if not isinstance(certs, list):
            return []
        return [CertFact(i, c) for i, c in enumerate(certs) if isinstance(c, dict)]

    def config(self, path: str) -> Mapping[str, Any] | None:
        cfgs = self.raw.get("configs")
        v = cfgs.get(path) if isinstance(cfgs, dict) else None
        return v if isinstance(v, dict) else None

    @property
    def static_pod_path(self) -> str:
        p = self.raw.get("staticPodPath")
        if isinstance(p, str) and p:
            return p
        k = self.kubelet()
        if k is not None:
            v = k.effective("staticPodPath").value
            if isinstance(v, str) and v:
                return v
        return "/etc/kubernetes/manifests"

    def user_exists(self, name: str) -> bool | None:
        acc = self.raw.get("accounts")
        users = acc.get("users") if isinstance(acc, dict) else None
        if not isinstance(users, dict):
            return None
        return name in users

    def uid_of(self, name: str) -> int | None:
        acc = self.raw.get("accounts")
        users = acc.get("users") if isinstance(acc, dict) else None
        return _int(users.get(name)) if isinstance(users, dict) else None

    def gid_of(self, name: str) -> int | None:
        acc = self.raw.get("accounts")
        groups = acc.get("groups") if isinstance(acc, dict) else None
        return _int(groups.get(name)) if isinstance(groups, dict) else None

    def kubelet(self) -> KubeletView | None:
        k = self.raw.get("kubelet")
        if not isinstance(k, dict):
            return None
        return KubeletView.from_snapshot(self.obj, k)


def snapshot_of(obj: K8sObject) -> NodeView | None:
    return NodeView(obj) if is_snapshot(obj) else None


def snapshots(objects: Iterator[K8sObject] | Sequence[K8sObject]) -> list[NodeView]:
    return [NodeView(o) for o in objects if is_snapshot(o)]


# -- the kubelet's effective configuration ---------------------------------------------------------------

_BOOL, _STR, _INT, _DURATION, _LIST, _MAP = "bool", "str", "int", "duration", "list", "map"

#: config field path -> (flag, type, default without a config file, default with a config file).
#: Defaults: kubelet ``--help`` (flags) and ``kubelet.config.k8s.io/v1beta1`` defaulting (config file);
#: the kubelet applies "legacy" flag defaults only when it runs without ``--config``.
KUBELET_FIELDS: dict[tuple[str, ...], tuple[str | None, str, Any, Any]] = {
    ("authentication", "anonymous", "enabled"): ("anonymous-auth", _BOOL, True, False),
    ("authentication", "webhook", "enabled"): ("authentication-token-webhook", _BOOL, False, True),
    ("authentication", "x509", "clientCAFile"): ("client-ca-file", _STR, "", ""),
    ("authorization", "mode"): ("authorization-mode", _STR, "AlwaysAllow", "Webhook"),
    ("readOnlyPort",): ("read-only-port", _INT, 10255, 0),
    ("streamingConnectionIdleTimeout",): ("streaming-connection-idle-timeout", _DURATION, "4h0m0s", "4h0m0s"),
    ("protectKernelDefaults",): ("protect-kernel-defaults", _BOOL, False, False),
    ("makeIPTablesUtilChains",): ("make-iptables-util-chains", _BOOL, True, True),
    ("eventRecordQPS",): ("event-qps", _INT, 50, 50),
    ("tlsCertFile",): ("tls-cert-file", _STR, "", ""),
    ("tlsPrivateKeyFile",): ("tls-private-key-file", _STR, "", ""),
    ("rotateCertificates",): ("rotate-certificates", _BOOL, False, False),
    ("serverTLSBootstrap",): ("rotate-server-certificates", _BOOL, False, False),
    ("featureGates",): ("feature-gates", _MAP, {}, {}),
    ("tlsCipherSuites",): ("tls-cipher-suites", _LIST, [], []),
    ("tlsMinVersion",): ("tls-min-version", _STR, "", ""),
    ("podPidsLimit",): ("pod-max-pids", _INT, -1, -1),
    ("seccompDefault",): ("seccomp-default", _BOOL, False, False),
    ("staticPodPath",): ("pod-manifest-path", _STR, "", ""),
}
KUBELET_FIELD_BY_NAME = {k[-1] if len(k) == 1 else ".".join(k): k for k in KUBELET_FIELDS}


@dataclass(frozen=True, slots=True)
class Setting:
    """An effective kubelet setting: the value, where it came from and the path to point at."""

    value: Any
    source: str  # flag | config | default
    path: Path
    text: str  # how to name it in a message: "--anonymous-auth" or "authentication.anonymous.enabled"
    valid: bool = True


class KubeletView:
    """The kubelet's flags over its config file over the built-in defaults (catalogue legend 9).

    Built from a ``NodeSnapshot`` (flags and config) or from a ``KubeletConfiguration`` object alone
    (manifest mode: the config file's defaults apply)."""

    __slots__ = ("args_path", "config", "config_path", "flags", "obj", "root_path", "uses_config")

    def __init__(
        self,
        obj: K8sObject,
        flags: Flags,
        config: Mapping[str, Any] | None,
        uses_config: bool,
        args_path: Path,
        config_path: Path,
        root_path: Path,
    ) -> None:
        self.obj = obj
        self.flags = flags
        self.config = config if config is not None else {}
        self.uses_config = uses_config
        self.args_path = args_path
        self.config_path = config_path
        self.root_path = root_path

    @classmethod
    def from_snapshot(cls, obj: K8sObject, raw: Mapping[str, Any]) -> KubeletView:
        args = raw.get("args")
        argv = [str(a) for a in args] if isinstance(args, list) else []
        flags = parse_flags(argv)
        cfg = raw.get("config")
        uses_config = "config" in flags or isinstance(cfg, dict)
        return cls(
            obj,
            flags,
            cfg if isinstance(cfg, dict) else None,
            uses_config,
            ("kubelet", "args"),
            ("kubelet", "config"),
            ("kubelet",),
        )

    @classmethod
    def from_config_object(cls, obj: K8sObject) -> KubeletView:
        return cls(obj, Flags(()), obj.raw, True, (), (), ())

    def flag_path(self, name: str) -> Path:
        f = self.flags.get(name)
        return self.args_path + ((f.index,) if f is not None else ())

    def effective(self, field_name: str) -> Setting:
        key = KUBELET_FIELD_BY_NAME[field_name]
        flag, typ, flag_default, file_default = KUBELET_FIELDS[key]
        cfg_val = get_path(self.config, key)
        cfg_set = cfg_val is not None
        if flag is not None and flag in self.flags:
            text = self.flags.value(flag)
            value, valid = _convert(text, typ)
            if typ == _MAP and cfg_set and isinstance(cfg_val, dict):
                merged = {str(k): (v if isinstance(v, bool) else None) for k, v in cfg_val.items()}
                merged.update(value)
                value = merged
            return Setting(value, "flag", self.flag_path(flag), f"--{flag}", valid)
        if cfg_set:
            value, valid = _convert_config(cfg_val, typ)
            return Setting(value, "config", self.config_path + key, ".".join(key), valid)
        default = file_default if self.uses_config else flag_default
        where = self.config_path if self.uses_config else self.args_path
        name = ".".join(key) if self.uses_config else f"--{flag}"
        return Setting(default, "default", where if where else self.root_path, name)

    def describe(self, s: Setting) -> str:
        if s.source == "flag":
            return f"flag {s.text}"
        if s.source == "config":
            return f"config field {s.text}"
        return f"{s.text} (not set)"


def _convert(text: str | None, typ: str) -> tuple[Any, bool]:
    if typ == _BOOL:
        v = parse_bool(text)
        return v, v is not None
    if typ == _INT:
        try:
            return int(str(text).strip()), True
        except (TypeError, ValueError):
            try:
                return float(str(text).strip()), True
            except (TypeError, ValueError):
                return text, False
    if typ == _DURATION:
        return text, parse_duration(text) is not None
    if typ == _LIST:
        return split_list(text), True
    if typ == _MAP:
        return parse_feature_gates(text), True
    return text or "", True


def _convert_config(value: Any, typ: str) -> tuple[Any, bool]:
    if typ == _BOOL:
        return (value, True) if isinstance(value, bool) else (value, False)
    if typ == _INT:
        return (value, True) if isinstance(value, (int, float)) and not isinstance(value, bool) else (value, False)
    if typ == _DURATION:
        return value, parse_duration(value) is not None
    if typ == _LIST:
        return ([str(v) for v in value], True) if isinstance(value, list) else (value, False)
    if typ == _MAP:
        if isinstance(value, dict):
            return {str(k): (v if isinstance(v, bool) else None) for k, v in value.items()}, True
        return {}, False
    return (value, True) if isinstance(value, str) else (value, False)


def is_kubelet_config(obj: K8sObject) -> bool:
    return obj.kind == "KubeletConfiguration" and obj.api_version.startswith("kubelet.config.k8s.io/")


def kubelet_view(obj: K8sObject) -> KubeletView | None:
    """The kubelet of a ``NodeSnapshot``, or a ``KubeletConfiguration`` judged on its own."""
    if is_snapshot(obj):
        return NodeView(obj).kubelet()
    if is_kubelet_config(obj):
        return KubeletView.from_config_object(obj)
    return None


# -- small helpers shared by the rules ----------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    h = host.strip().strip("[]")
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def split_host_port(addr: str) -> tuple[str, str | None]:
    a = addr.strip()
    if a.startswith("["):
        host, _, rest = a[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if a.count(":") == 1:
        host, _, port = a.partition(":")
        return host, port
    return a, None


def is_unspecified_host(host: str) -> bool:
    h = host.strip().strip("[]")
    if h in ("", "*"):
        return True
    try:
        return ipaddress.ip_address(h).is_unspecified
    except ValueError:
        return False


__all__ = [
    "SNAPSHOT_API",
    "SNAPSHOT_KIND",
    "Anchor",
    "CertFact",
    "FileFact",
    "KubeletView",
    "NodeSource",
    "NodeView",
    "Setting",
    "file_fact",
    "is_kubelet_config",
    "is_loopback_host",
    "is_snapshot",
    "is_unspecified_host",
    "kubelet_view",
    "parse_mode",
    "snapshot_of",
    "snapshots",
    "split_host_port",
]
