"""The node audit loader: read a node (``/``) or a copy of its files (``--root DIR``) and turn it into
objects for the rule engine.

- Static pod manifests (the kubelet's ``staticPodPath``, default ``/etc/kubernetes/manifests``) are
  loaded as they are: Pods, with their file and lines. The kubelet reads every non-hidden file of
  the directory, whatever its extension, and so does this.
- Components running as processes (``/proc/*/cmdline``; only with ``--root /`` or ``--proc``) or as
  systemd units (``kube-apiserver.service``...) without a manifest become synthetic Pods whose
  command is the process's or unit's command line, pointing at ``/proc/<pid>/cmdline`` or at the unit
  file lines. The same rules then judge them.
- Config files the components point at (EncryptionConfiguration, audit Policy, Authentication- and
  AuthorizationConfiguration, AdmissionConfiguration and the PodSecurityConfiguration its PodSecurity
  entry names, KubeProxyConfiguration) are loaded as objects; paths inside flags are resolved under the
  root, and a plugin ``path`` relative to the AdmissionConfiguration's directory, as the API server does.
- Everything else goes into one ``NodeSnapshot`` object (:mod:`.snapshot`): the kubelet's flags (from
  its process or its systemd unit and drop-ins) and config file, file modes and owners (names from
  the root's ``etc/passwd`` and ``etc/group``), certificate facts, etcd's ``--config-file``.

Symbolic links are followed inside the root (an absolute target is taken relative to the root), so a
copied tree is read as the node would read it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import stat as stat_mod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ...errors import LoadError
from ...loading.loader import load_text
from ...model.objects import K8sObject, Path
from ...model.source import DocumentText
from .certs import certificate_facts, decode_b64
from .flags import (
    APISERVER,
    COMPONENTS,
    CONTROLLER_MANAGER,
    ETCD,
    KUBE_PROXY,
    KUBELET,
    SCHEDULER,
    Component,
    components,
    parse_flags,
)
from .snapshot import SNAPSHOT_API, SNAPSHOT_KIND, Anchor, NodeSource
from .systemd import UnitCommand, read_unit

log = logging.getLogger(__name__)

MAX_FILE = 4 * 1024 * 1024
MAX_WALK = 2000
DEFAULT_MANIFESTS = "/etc/kubernetes/manifests"
KUBECONFIGS = (
    "admin.conf",
    "super-admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kubelet.conf",
    "bootstrap-kubelet.conf",
)
#: Flags whose value names a certificate (or CA bundle) file.
CERT_FLAG_SUFFIXES = ("cert-file", "certfile", "ca-file", "cafile", "-certificate", "certificate-authority")
#: Flags whose value names a config file loaded as an object: (component, flag).
CONFIG_FLAGS = (
    (APISERVER, "encryption-provider-config"),
    (APISERVER, "audit-policy-file"),
    (APISERVER, "authentication-config"),
    (APISERVER, "authorization-config"),
    (APISERVER, "admission-control-config-file"),
    (KUBE_PROXY, "config"),
)
#: Admission plugins whose configuration file (an AdmissionConfiguration ``plugins[].path``) is loaded too
PLUGIN_CONFIGS = ("PodSecurity",)


class RootFS:
    """Paths of the node, read under ``root``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.normpath(root)
        self.is_host = os.path.abspath(root) == "/"

    def host(self, node_path: str) -> str:
        """The host path of a node path, following symbolic links inside the root."""
        if self.is_host:
            return node_path
        parts = [p for p in posixpath.normpath("/" + node_path).split("/") if p]
        cur: list[str] = []
        hops = 0
        i = 0
        while i < len(parts):
            part = parts[i]
            if part == "..":
                if cur:
                    cur.pop()
                i += 1
                continue
            if part == ".":
                i += 1
                continue
            cand = os.path.join(self.root, *cur, part)
            if os.path.islink(cand) and hops < 40:
                hops += 1
                target = os.readlink(cand)
                if target.startswith("/"):
                    cur = []
                parts = [p for p in target.split("/") if p] + parts[i + 1 :]
                i = 0
                continue
            cur.append(part)
            i += 1
        return os.path.join(self.root, *cur)

    def read_bytes(self, node_path: str, limit: int = MAX_FILE) -> bytes | None:
        try:
            with open(self.host(node_path), "rb") as fh:
                return fh.read(limit)
        except OSError:
            return None

    def read_text(self, node_path: str) -> str | None:
        data = self.read_bytes(node_path)
        if data is None:
            return None
        return data.decode("utf-8", errors="replace")

    def listdir(self, node_path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self.host(node_path)))
        except OSError:
            return None

    def unit_reader(self, path: str) -> str | None:
        """For :func:`read_unit`: a file's text, or a directory listing (one name a line) for ``dir/``."""
        if path.endswith("/"):
            names = self.listdir(path)
            return None if names is None else "\n".join(names)
        h = self.host(path)
        if not os.path.isfile(h) or os.path.realpath(h) == "/dev/null":
            return None
        return self.read_text(path)


@dataclass
class Accounts:
    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    known: bool = False

    def user(self, uid: int) -> str | None:
        for n, u in self.users.items():
            if u == uid:
                return n
        return None

    def group(self, gid: int) -> str | None:
        for n, g in self.groups.items():
            if g == gid:
                return n
        return None


def read_accounts(fs: RootFS) -> Accounts:
    acc = Accounts()
    for name, table in (("/etc/passwd", acc.users), ("/etc/group", acc.groups)):
        text = fs.read_text(name)
        if text is None:
            continue
        acc.known = True
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) >= 3 and parts[0] and parts[2].isdigit() and parts[0] not in table:
                table[parts[0]] = int(parts[2])
    return acc


@dataclass
class NodeAudit:
    """What the loader found: objects for the engine and how it found them."""

    root: str
    node: str
    objects: list[K8sObject] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    found: dict[str, str] = field(default_factory=dict)  # component -> where it was found
    versions: dict[str, str] = field(default_factory=dict)  # component -> version (image tags)
    files: int = 0


class _Collector:
    def __init__(self, root: str, proc: str | None, node: str | None) -> None:
        self.fs = RootFS(root)
        self.proc = proc
        self.acc = read_accounts(self.fs)
        hostname = (self.fs.read_text("/etc/hostname") or "").strip().split("\n")[0].strip()
        self.audit = NodeAudit(root=self.fs.root, node=node or hostname or "node")
        self.file_facts: dict[str, dict[str, Any]] = {}
        self.anchors: dict[Path, Anchor] = {}
        self.certs: list[dict[str, Any]] = []
        self.cert_seen: dict[tuple[str, str | None], dict[str, Any]] = {}
        self.kubeconfig_seen: dict[str, list[tuple[dict[str, Any], str]]] = {}
        self.snapshot: dict[str, Any] = {}
        self.pods: dict[str, Component] = {}

    # -- files --------------------------------------------------------------------------------------
    def fact(self, node_path: str, *, digest: bool = False) -> dict[str, Any]:
        p = posixpath.normpath(node_path)
        if p in self.file_facts and not (
            digest and "sha256" not in self.file_facts[p] and self.file_facts[p].get("type") == "file"
        ):
            return self.file_facts[p]
        h = self.fs.host(p)
        try:
            st = os.stat(h)
        except FileNotFoundError:
            f: dict[str, Any] = {"type": "missing"}
        except OSError as e:
            f = {"type": "error", "error": e.strerror or type(e).__name__}
        else:
            t = "dir" if stat_mod.S_ISDIR(st.st_mode) else "file" if stat_mod.S_ISREG(st.st_mode) else "other"
            f = {
                "type": t,
                "mode": f"{stat_mod.S_IMODE(st.st_mode):04o}",
                "uid": st.st_uid,
                "gid": st.st_gid,
                "owner": self.acc.user(st.st_uid),
                "group": self.acc.group(st.st_gid),
            }
            if f["owner"] is None:
                del f["owner"]
            if f["group"] is None:
                del f["group"]
            if digest and t == "file" and st.st_size <= MAX_FILE:
                data = self.fs.read_bytes(p)
                if data is not None:
                    f["sha256"] = hashlib.sha256(data).hexdigest()
        self.file_facts[p] = f
        self.anchors[("files", p)] = Anchor(file=h)
        return f

    def walk(self, node_dir: str) -> None:
        if self.fact(node_dir).get("type") != "dir":
            return
        count = 0
        stack = [node_dir]
        while stack and count < MAX_WALK:
            d = stack.pop()
            for name in self.fs.listdir(d) or []:
                count += 1
                p = posixpath.join(d, name)
                f = self.fact(p)
                if f.get("type") == "dir":
                    stack.append(p)

    # -- objects --------------------------------------------------------------------------------------
    def load_objects(self, node_path: str, what: str) -> list[K8sObject]:
        text = self.fs.read_text(node_path)
        h = self.fs.host(node_path)
        if text is None:
            return []
        self.audit.files += 1
        res = load_text(text, h, default_namespace="default")
        res.files = 0
        self.audit.errors.extend(res.errors)
        for n in res.notes:
            self.audit.notes.append(f"{n} ({what})")
        self.audit.objects.extend(res.objects)
        return res.objects

    def load_yaml_doc(self, node_path: str) -> tuple[Any, DocumentText | None]:
        text = self.fs.read_text(node_path)
        if text is None:
            return None, None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            self.audit.errors.append(
                LoadError(
                    self.fs.host(node_path),
                    f"invalid YAML: {getattr(e, 'problem', e)}",
                    line=mark.line + 1 if mark else None,
                )
            )
            return None, None
        return data, DocumentText(text, 1)

    # -- kubelet ---------------------------------------------------------------------------------------
    def kubelet(self, procs: Mapping[str, tuple[int, list[str], dict[str, str]]]) -> None:
        unit = read_unit("kubelet.service", self.fs.unit_reader)
        if unit is not None:
            for f in unit.files:
                self.fact(f)
            for f in unit.missing_env_files:
                self.audit.notes.append(f"kubelet.service: EnvironmentFile {f} does not exist")
        args: list[str]
        if KUBELET in procs:
            pid, argv, _ = procs[KUBELET]
            args = argv[1:]
            src = f"{self.proc}/{pid}/cmdline"
            self.anchors[("kubelet", "args")] = Anchor(file=src)
            self.audit.found[KUBELET] = f"process {pid}"
        elif unit is not None and unit.argv and posixpath.basename(unit.argv[0].text) == KUBELET:
            args = [w.text for w in unit.argv[1:]]
            for i, w in enumerate(unit.argv[1:]):
                self.anchors[("kubelet", "args", i)] = Anchor(file=self.fs.host(w.file), line=w.line)
            self.anchors[("kubelet", "args")] = Anchor(file=self.fs.host(unit.argv[0].file), line=unit.argv[0].line)
            src = unit.argv[0].file
            self.audit.found[KUBELET] = f"systemd unit kubelet.service ({', '.join(unit.files)})"
        else:
            return
        kubelet: dict[str, Any] = {"source": src, "args": args}
        if unit is not None:
            kubelet["unitFiles"] = [f for f in unit.files if f.endswith((".service", ".conf"))]
        flags = parse_flags(args)
        cfg_path = flags.value("config")
        if cfg_path:
            kubelet["configFile"] = cfg_path
            self.fact(cfg_path)
            data, doc = self.load_yaml_doc(cfg_path)
            if isinstance(data, dict):
                kubelet["config"] = dict(data)
                self.anchors[("kubelet", "config")] = Anchor(file=self.fs.host(cfg_path), doc=doc)
                self.audit.files += 1
            elif data is None and self.fs.read_text(cfg_path) is None:
                self.audit.notes.append(f"kubelet --config {cfg_path} does not exist")
        drop_dir = flags.value("config-dir")
        if drop_dir and isinstance(kubelet.get("config"), dict):
            for name in self.fs.listdir(drop_dir) or []:
                if not name.endswith(".conf"):
                    continue
                p = posixpath.join(drop_dir, name)
                data, doc = self.load_yaml_doc(p)
                if isinstance(data, dict):
                    _merge(kubelet["config"], data)
                    for k in data:
                        self.anchors[("kubelet", "config", str(k))] = Anchor(
                            file=self.fs.host(p), doc=doc, doc_prefix=(k,)
                        )
        self.snapshot["kubelet"] = kubelet
        kubeconfig = flags.value("kubeconfig") or "/etc/kubernetes/kubelet.conf"
        self.fact(kubeconfig)
        self.kubeconfig_certs(kubeconfig, "kubelet --kubeconfig")
        cfg = kubelet.get("config") if isinstance(kubelet.get("config"), dict) else {}
        ca = flags.value("client-ca-file") or _get(cfg, "authentication", "x509", "clientCAFile")
        if isinstance(ca, str) and ca:
            self.fact(ca, digest=True)
            self.cert_file(ca, "kubelet client CA (authentication.x509.clientCAFile)")
        tls = flags.value("tls-cert-file") or _get(cfg, "tlsCertFile")
        if isinstance(tls, str) and tls:
            self.fact(tls)
            self.cert_file(tls, "kubelet serving certificate (tlsCertFile)")
        key = flags.value("tls-private-key-file") or _get(cfg, "tlsPrivateKeyFile")
        if isinstance(key, str) and key:
            self.fact(key)
        cert_dir = flags.value("cert-dir") or "/var/lib/kubelet/pki"
        for name in self.fs.listdir(cert_dir) or []:
            if name.endswith((".crt", ".pem")):
                p = posixpath.join(cert_dir, name)
                self.fact(p)
                self.cert_file(p, "kubelet certificate directory")
        spp = flags.value("pod-manifest-path") or _get(cfg, "staticPodPath")
        if isinstance(spp, str) and spp:
            self.snapshot["staticPodPath"] = spp

    # -- certificates ------------------------------------------------------------------------------------
    def cert_file(self, node_path: str, used_by: str) -> None:
        p = posixpath.normpath(node_path)
        key = (os.path.realpath(self.fs.host(p)), None)
        if key in self.cert_seen:
            ub = self.cert_seen[key]["usedBy"]
            if used_by not in ub:
                ub.append(used_by)
            return
        data = self.fs.read_bytes(p)
        if data is None:
            return
        first = None
        for f in certificate_facts(data, path=p, used_by=[used_by]):
            f = {k: v for k, v in f.items() if v is not None}
            f.setdefault("usedBy", [used_by])
            self.anchors[("certificates", len(self.certs))] = Anchor(file=self.fs.host(p))
            self.certs.append(f)
            first = first or f
        if first is not None:
            self.cert_seen[key] = first
            # bundle members share the usedBy list of the first
            for f in self.certs:
                if f.get("path") == p:
                    f["usedBy"] = first["usedBy"]

    def kubeconfig_certs(self, node_path: str, used_by: str) -> None:
        real = os.path.realpath(self.fs.host(node_path))
        seen = self.kubeconfig_seen.get(real)
        if seen is not None:  # read before for another flag: only note the new user
            for entry, what in seen:
                if f"{used_by} ({what})" not in entry["usedBy"]:
                    entry["usedBy"].append(f"{used_by} ({what})")
            return
        seen = self.kubeconfig_seen[real] = []
        data, _ = self.load_yaml_doc(node_path)
        if not isinstance(data, dict):
            return
        for section, item_key, data_key, file_key, what in (
            ("users", "user", "client-certificate-data", "client-certificate", "client certificate"),
            ("clusters", "cluster", "certificate-authority-data", "certificate-authority", "cluster CA"),
        ):
            items = data.get(section)
            for i, it in enumerate(items if isinstance(items, list) else []):
                if not isinstance(it, dict) or not isinstance(it.get(item_key), dict):
                    continue
                body = it[item_key]
                name = it.get("name") if isinstance(it.get("name"), str) else f"#{i}"
                if data_key in body:
                    raw = decode_b64(body.get(data_key))
                    if raw is None:
                        continue
                    within = f'{section}[{i}] "{name}" {data_key}'
                    for f in certificate_facts(
                        raw, path=posixpath.normpath(node_path), within=within, used_by=[f"{used_by} ({what})"]
                    ):
                        self.anchors[("certificates", len(self.certs))] = Anchor(file=self.fs.host(node_path))
                        entry = {k: v for k, v in f.items() if v is not None}
                        self.certs.append(entry)
                        seen.append((entry, what))
                elif isinstance(body.get(file_key), str):
                    ref = body[file_key]
                    if not ref.startswith("/"):
                        ref = posixpath.join(posixpath.dirname(node_path), ref)
                    self.fact(ref)
                    self.cert_file(ref, f"{used_by} ({what})")

    # -- components -------------------------------------------------------------------------------------
    def add_component_pods(self, objs: Iterable[K8sObject], where: str) -> None:
        for o in objs:
            for name, comp in components(o).items():
                if name not in self.pods:
                    self.pods[name] = comp
                    self.audit.found.setdefault(name, where)
                    v = comp.version
                    if v:
                        self.audit.versions.setdefault(name, v)

    def synthetic_pod(
        self, name: str, argv: list[str], env: Mapping[str, str], file: str, anchors: Mapping[Path, Anchor], origin: str
    ) -> K8sObject:
        container: dict[str, Any] = {"name": name, "command": list(argv)}
        if env:
            container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
        raw = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "kube-system", "annotations": {"kubefort.io/source": origin}},
            "spec": {"containers": [container]},
        }
        src = NodeSource(file=file, anchors=dict(anchors))
        obj = K8sObject.from_raw(raw, src, default_namespace="kube-system")
        self.audit.objects.append(obj)
        return obj

    def read_procs(self) -> dict[str, tuple[int, list[str], dict[str, str]]]:
        out: dict[str, tuple[int, list[str], dict[str, str]]] = {}
        if not self.proc:
            return out
        try:
            pids = sorted(int(p) for p in os.listdir(self.proc) if p.isdigit())
        except OSError as e:
            self.audit.notes.append(f"cannot read processes from {self.proc}: {e.strerror}")
            return out
        for pid in pids:
            try:
                with open(os.path.join(self.proc, str(pid), "cmdline"), "rb") as fh:
                    raw = fh.read(256 * 1024)
            except OSError:
                continue
            argv = [a.decode("utf-8", errors="replace") for a in raw.split(b"\0")]
            while argv and argv[-1] == "":
                argv.pop()
            if not argv:
                continue
            name = posixpath.basename(argv[0])
            if name not in COMPONENTS or name in out:
                continue
            env: dict[str, str] = {}
            if name == ETCD:
                try:
                    with open(os.path.join(self.proc, str(pid), "environ"), "rb") as fh:
                        for item in fh.read(256 * 1024).split(b"\0"):
                            k, sep, v = item.decode("utf-8", errors="replace").partition("=")
                            if sep and k.startswith("ETCD_"):
                                env[k] = v
                except OSError:
                    pass
            out[name] = (pid, argv, env)
        return out

    def from_unit(self, name: str) -> None:
        unit: UnitCommand | None = read_unit(f"{name}.service", self.fs.unit_reader)
        if unit is None or not unit.argv or posixpath.basename(unit.argv[0].text) != name:
            return
        for f in unit.files:
            self.fact(f)
        anchors: dict[Path, Anchor] = {}
        cpath: Path = ("spec", "containers", 0, "command")
        anchors[cpath] = Anchor(file=self.fs.host(unit.argv[0].file), line=unit.argv[0].line)
        for i, w in enumerate(unit.argv):
            anchors[cpath + (i,)] = Anchor(file=self.fs.host(w.file), line=w.line)
        env = {k: v for k, v in unit.env.items() if k.startswith("ETCD_")}  # etcd reads its settings from these
        obj = self.synthetic_pod(
            name, [w.text for w in unit.argv], env, self.fs.host(unit.files[0]), anchors, f"systemd unit {name}.service"
        )
        self.add_component_pods([obj], f"systemd unit {name}.service ({', '.join(unit.files)})")

    # -- the whole node ------------------------------------------------------------------------------------
    def run(self) -> NodeAudit:
        procs = self.read_procs()
        self.kubelet(procs)
        spp = self.snapshot.get("staticPodPath") or DEFAULT_MANIFESTS
        manifests: dict[str, str] = {}
        self.fact(spp)
        for name in self.fs.listdir(spp) or []:
            if name.startswith("."):
                continue
            p = posixpath.join(spp, name)
            if self.fact(p).get("type") != "file":
                continue
            objs = self.load_objects(p, "static pod manifest")
            for o in objs:
                for comp in components(o):
                    manifests.setdefault(comp, p)
            self.add_component_pods(objs, f"static pod manifest {p}")
        if manifests:
            self.snapshot["manifests"] = manifests
        for name, (pid, argv, env) in procs.items():
            if name == KUBELET:
                continue
            if name in self.pods:
                running = self.pods[name]
                if list(running.argv) != argv[1:] and self.audit.found.get(name, "").startswith("static pod"):
                    self.audit.notes.append(
                        f"the running {name} (pid {pid}) has other flags than its manifest: "
                        "the manifest was changed and not yet applied, or another copy runs"
                    )
                continue
            file = f"{self.proc}/{pid}/cmdline"
            anchors: dict[Path, Anchor] = {("spec", "containers", 0): Anchor(file=file)}
            obj = self.synthetic_pod(name, argv, env, file, anchors, f"process {pid}")
            self.add_component_pods([obj], f"process {pid}")
        for name in (APISERVER, CONTROLLER_MANAGER, SCHEDULER, ETCD, KUBE_PROXY, "cloud-controller-manager"):
            if name not in self.pods:
                self.from_unit(name)
        self.referenced_files()
        self.fixed_files()
        self.snapshot_object()
        return self.audit

    def referenced_files(self) -> None:
        for comp_name, flag_name in CONFIG_FLAGS:
            named_by = self.pods.get(comp_name)
            p = named_by.value(flag_name) if named_by is not None else None
            if not p:
                continue
            f = self.fact(p)
            if f.get("type") == "file":
                objs = self.load_objects(p, f"{comp_name} --{flag_name}")
                if flag_name == "admission-control-config-file":
                    self.plugin_files(p, objs)
            else:
                self.audit.notes.append(f"{comp_name} --{flag_name} names {p}, which does not exist under the root")
        etcd = self.pods.get(ETCD)
        if etcd is not None:
            cfg = etcd.value("config-file") or (etcd.env("ETCD_CONFIG_FILE") or (None,))[0]
            if cfg:
                self.fact(cfg)
                data, doc = self.load_yaml_doc(cfg)
                if isinstance(data, dict):
                    self.snapshot.setdefault("configs", {})[cfg] = dict(data)
                    self.anchors[("configs", cfg)] = Anchor(file=self.fs.host(cfg), doc=doc)
            data_dir = etcd.value("data-dir") or (etcd.env("ETCD_DATA_DIR") or (None,))[0]
            if data_dir:
                self.fact(data_dir)
        self.fact("/var/lib/etcd")
        kp = self.pods.get(KUBE_PROXY)
        if kp is not None and kp.value("kubeconfig"):
            self.fact(kp.value("kubeconfig") or "")
        for o in self.audit.objects:
            if o.kind == "KubeProxyConfiguration":
                kc = o.get("clientConnection", "kubeconfig")
                if isinstance(kc, str) and kc.startswith("/"):
                    self.fact(kc)
        for name, comp in self.pods.items():
            for flag in comp.flags:
                v = comp.value(flag.name) or ""
                if not v.startswith("/") or "," in v:
                    continue
                is_cert = flag.name.endswith(CERT_FLAG_SUFFIXES)
                self.fact(v, digest=is_cert)
                if is_cert and not flag.name.endswith("key-file"):
                    self.cert_file(v, f"{name} --{flag.name}")
                if flag.name in ("kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig"):
                    self.kubeconfig_certs(v, f"{name} --{flag.name}")

    def plugin_files(self, config_path: str, objs: Iterable[K8sObject]) -> None:
        """The files an AdmissionConfiguration's plugins name (``path``, relative to its own directory); a
        nested ``configuration`` wins over ``path``, so such an entry names no file."""
        for o in objs:
            if o.kind != "AdmissionConfiguration":
                continue
            plugins = o.raw.get("plugins")
            for entry in plugins if isinstance(plugins, list) else []:
                if not isinstance(entry, dict) or entry.get("name") not in PLUGIN_CONFIGS:
                    continue
                named = entry.get("path")
                if not isinstance(named, str) or not named or isinstance(entry.get("configuration"), dict):
                    continue
                p = posixpath.normpath(posixpath.join(posixpath.dirname(config_path), named))
                if self.fact(p).get("type") == "file":
                    self.load_objects(p, f"{entry['name']} admission plugin configuration")
                else:
                    self.audit.notes.append(
                        f"{config_path} names {p} ({entry['name']}), which does not exist under the root"
                    )

    def fixed_files(self) -> None:
        for name in KUBECONFIGS:
            p = f"/etc/kubernetes/{name}"
            if self.fact(p).get("type") == "file" and not any(c.get("path") == p for c in self.certs):
                self.kubeconfig_certs(p, name)
        self.walk("/etc/kubernetes/pki")
        for p, f in sorted(self.file_facts.items()):
            if p.startswith("/etc/kubernetes/pki/") and f.get("type") == "file" and p.endswith((".crt", ".pem")):
                self.cert_file(p, "PKI directory")
        self.walk("/etc/cni/net.d")
        self.walk("/opt/cni/bin")
        for u in ("kubelet.service",):
            for d in ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"):
                if self.fs.listdir(f"{d}/{u}.d") is not None or os.path.exists(self.fs.host(f"{d}/{u}")):
                    self.fact(f"{d}/{u}")

    def snapshot_object(self) -> None:
        if (
            not self.pods
            and "kubelet" not in self.snapshot
            and not any(
                f.get("type") in ("file", "dir") for p, f in self.file_facts.items() if p.startswith("/etc/kubernetes")
            )
        ):
            self.audit.notes.append(f"no Kubernetes component found under {self.fs.root}")
        raw: dict[str, Any] = {
            "apiVersion": SNAPSHOT_API,
            "kind": SNAPSHOT_KIND,
            "metadata": {"name": self.audit.node},
            "root": self.fs.root,
        }
        if self.acc.known:
            raw["accounts"] = {"users": dict(self.acc.users), "groups": dict(self.acc.groups)}
        raw.update(self.snapshot)
        raw["files"] = {p: self.file_facts[p] for p in sorted(self.file_facts)}
        raw["certificates"] = self.certs
        src = NodeSource(file=self.fs.root, anchors=self.anchors)
        self.audit.objects.append(K8sObject.from_raw(raw, src, cluster_scoped=True))


def _get(m: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(m, dict):
            return None
        m = m.get(p)
    return m


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def collect_node(root: str = "/", *, proc: str | None = None, node: str | None = None) -> NodeAudit:
    """Read the node under ``root``. ``proc`` is the ``/proc`` to read processes from (None: none)."""
    if not os.path.isdir(root):
        raise LoadError(root, "not a directory")
    return _Collector(root, proc, node).run()
