"""Component command lines, parsed as the Kubernetes components parse them (catalogue legend 9).

- ``--flag=value`` and ``--flag value``; etcd's Go ``flag`` package also takes ``-flag=value``.
- The effective value of a flag is its last occurrence. A bare boolean flag (``--profiling``) means
  true; booleans take Go's ``strconv.ParseBool`` spellings (``1 t T TRUE true True`` / ``0 f F ...``),
  and a boolean flag never consumes the next word (``--profiling false`` leaves ``false`` as an
  argument, as pflag does).
- List flags (``--enable-admission-plugins``, ``--authorization-mode``, ``--tls-cipher-suites``) are
  comma-separated; ``--feature-gates`` is ``Name=bool,...`` and later keys win.

Components are found in pod-bearing objects (static pod manifests are Pods; hosted control planes
run the API server as a Deployment): a container whose command (or, without a command, whose name or
image) is ``kube-apiserver``, ``etcd``... including ``sh -c "exec kube-apiserver ..."`` wrappers,
``go-runner`` and ``hyperkube``.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...model.images import parse_image
from ...model.objects import K8sObject, Path
from ...model.workloads import pod_spec

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
ETCD = "etcd"
KUBE_PROXY = "kube-proxy"
KUBELET = "kubelet"
CLOUD_CONTROLLER_MANAGER = "cloud-controller-manager"

#: Components in upgrade order (the version skew policy's "supported component upgrade order").
COMPONENTS = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER, CLOUD_CONTROLLER_MANAGER, KUBELET, KUBE_PROXY)
_HYPERKUBE = {
    "apiserver": APISERVER,
    "controller-manager": CONTROLLER_MANAGER,
    "scheduler": SCHEDULER,
    "proxy": KUBE_PROXY,
    "kubelet": KUBELET,
    "cloud-controller-manager": CLOUD_CONTROLLER_MANAGER,
}
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "busybox"})
_SHELL_STOP = frozenset({"&&", "||", ";", "|", "&", ">", ">>", "<", "2>&1", "1>&2"})

#: Boolean flags of the components (a bare occurrence means true and never takes the next word).
BOOL_FLAGS = frozenset(
    {
        # kube-apiserver
        "anonymous-auth",
        "profiling",
        "kubelet-https",
        "service-account-lookup",
        "allow-privileged",
        "service-account-extend-token-expiration",
        "enable-aggregator-routing",
        "enable-bootstrap-token-auth",
        "enable-garbage-collector",
        "enable-priority-and-fairness",
        "contention-profiling",
        "audit-log-compress",
        "enable-logs-handler",
        # controller manager / scheduler
        "use-service-account-credentials",
        "leader-elect",
        "allocate-node-cidrs",
        "configure-cloud-routes",
        "enable-hostpath-provisioner",
        "enable-dynamic-provisioning",
        # etcd
        "client-cert-auth",
        "peer-client-cert-auth",
        "auto-tls",
        "peer-auto-tls",
        "enable-v2",
        "strict-reconfig-check",
        "enable-pprof",
        "force-new-cluster",
        "debug",
        "experimental-initial-corrupt-check",
        # kubelet
        "authentication-token-webhook",
        "protect-kernel-defaults",
        "make-iptables-util-chains",
        "rotate-certificates",
        "rotate-server-certificates",
        "seccomp-default",
        "fail-swap-on",
        "register-node",
        "enable-server",
        "enable-debugging-handlers",
        "cgroups-per-qos",
        "serialize-image-pulls",
        "keep-terminated-pod-volumes",
        # kube-proxy
        "masquerade-all",
        "bind-address-hard-fail",
        "cleanup",
        "init-only",
        # common
        "logtostderr",
        "alsologtostderr",
        "add-dir-header",
        "skip-headers",
        "skip-log-headers",
        "one-output",
        "version",
    }
)


_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(text: str | None) -> bool | None:
    """Go ``strconv.ParseBool``; ``None`` (a bare flag) is true; anything else is None (invalid)."""
    if text is None:
        return True
    t = text.strip()
    if t in _GO_TRUE:
        return True
    if t in _GO_FALSE:
        return False
    return None


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: Any) -> float | None:
    """Go ``time.ParseDuration`` (``4h``, ``1h30m``, ``300s``, ``0``) in seconds; None when invalid.

    A bare integer is accepted as seconds only when it is 0 (as Go accepts ``0`` alone)."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text) if text == 0 else None
    if not isinstance(text, str):
        return None
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        return None
    total = 0.0
    pos = 0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s):
        return None
    return sign * total


def split_list(value: str | None) -> list[str]:
    if not value:
        return []
    return [p.strip() for p in value.split(",") if p.strip()]


def parse_feature_gates(value: str | None) -> dict[str, bool | None]:
    """``A=true,B=false`` -> {A: True, B: False}; an invalid boolean maps to None."""
    out: dict[str, bool | None] = {}
    for item in split_list(value):
        name, _, v = item.partition("=")
        out[name.strip()] = parse_bool(v.strip()) if v else None
    return out


@dataclass(frozen=True, slots=True)
class Flag:
    """One occurrence of a flag: its name, its value (None for a bare flag), where its value is."""

    name: str
    value: str | None
    index: int  # index of the token holding the value (the flag itself for --a=b and bare flags)


class Flags:
    """The flags of one command line, last occurrence wins."""

    __slots__ = ("_last", "entries")

    def __init__(self, entries: Sequence[Flag]) -> None:
        self.entries = tuple(entries)
        self._last: dict[str, Flag] = {}
        for f in self.entries:
            self._last[f.name] = f

    def __contains__(self, name: str) -> bool:
        return name in self._last

    def __iter__(self) -> Iterator[Flag]:
        return iter(self._last.values())

    def get(self, name: str) -> Flag | None:
        return self._last.get(name)

    def value(self, name: str) -> str | None:
        """The effective text of a flag (``"true"`` for a bare flag); None when unset."""
        f = self._last.get(name)
        if f is None:
            return None
        return "true" if f.value is None else f.value

    def bool(self, name: str, default: bool) -> bool | None:
        """Effective boolean; the default when unset; None when the value is not a Go boolean."""
        f = self._last.get(name)
        if f is None:
            return default
        return parse_bool(f.value)

    def items(self, name: str) -> list[str]:
        return split_list(self.value(name))

    def occurrences(self, name: str) -> list[Flag]:
        return [f for f in self.entries if f.name == name]


def parse_flags(argv: Sequence[str], bool_flags: frozenset[str] = BOOL_FLAGS) -> Flags:
    """Parse ``argv`` (the words after the binary) into flags; positional words are ignored."""
    entries: list[Flag] = []
    i = 0
    n = len(argv)
    while i < n:
        tok = argv[i]
        if tok == "--":
            break
        if len(tok) > 1 and tok[0] == "-" and tok[1] != " ":
            body = tok[2:] if tok.startswith("--") else tok[1:]
            if not body or body.startswith("-"):
                i += 1
                continue
            if "=" in body:
                name, value = body.split("=", 1)
                entries.append(Flag(name, value, i))
            elif body in bool_flags:
                entries.append(Flag(body, None, i))
            elif i + 1 < n and not (argv[i + 1].startswith("-") and len(argv[i + 1]) > 1):
                entries.append(Flag(body, argv[i + 1], i + 1))
                i += 1
            else:
                entries.append(Flag(body, None, i))  # unknown flag without a value: a bare boolean
        i += 1
    return Flags(entries)


# -- components in pod specs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Component:
    """A Kubernetes component running in a container of a pod-bearing object."""

    name: str  # kube-apiserver, etcd, ...
    obj: K8sObject
    container: Mapping[str, Any]
    container_path: Path
    argv: tuple[str, ...]  # the words after the binary
    paths: tuple[Path, ...]  # for each word, its path in the object
    anchor: Path  # where findings about a missing flag point (the command or args list)
    flags: Flags

    @property
    def label(self) -> str:
        return self.name

    def is_set(self, name: str) -> bool:
        return name in self.flags

    def value(self, name: str) -> str | None:
        return self.flags.value(name)

    def bool(self, name: str, default: bool) -> bool | None:
        return self.flags.bool(name, default)

    def items(self, name: str) -> list[str]:
        return self.flags.items(name)

    def at(self, name: str) -> Path:
        """Path of the flag's effective occurrence, or of the command list when it is not set."""
        f = self.flags.get(name)
        if f is None or f.index >= len(self.paths):
            return self.anchor
        return self.paths[f.index]

    def env(self, name: str) -> tuple[str, Path] | None:
        """A literal environment variable of the container (``value``, not ``valueFrom``)."""
        env = self.container.get("env")
        if not isinstance(env, list):
            return None
        hit = None
        for i, e in enumerate(env):
            if isinstance(e, dict) and e.get("name") == name and isinstance(e.get("value"), str):
                hit = (e["value"], self.container_path + ("env", i, "value"))
        return hit

    @property
    def image(self) -> str | None:
        img = self.container.get("image")
        return img if isinstance(img, str) else None

    @property
    def version(self) -> str | None:
        """The version from the image tag (``registry.k8s.io/kube-apiserver:v1.31.2`` -> ``1.31.2``)."""
        if not self.image:
            return None
        tag = parse_image(self.image).tag
        if not tag:
            return None
        m = re.match(r"^v?(\d+\.\d+(?:\.\d+)?)", tag)
        return m.group(1) if m else None


def _binary(word: str) -> str:
    b = posixpath.basename(word.strip())
    return b[:-4] if b.endswith(".exe") else b


def _words(container: Mapping[str, Any], cpath: Path) -> tuple[list[str], list[Path], Path | None, bool]:
    """command + args as words with their paths; a ``sh -c`` script is split into words (all
    pointing at the script). Returns (words, paths, anchor, had_command)."""
    words: list[str] = []
    paths: list[Path] = []
    anchor: Path | None = None
    had_command = False
    for key in ("command", "args"):
        items = container.get(key)
        if not isinstance(items, list):
            continue
        if key == "command":
            had_command = bool(items)
        if anchor is None and items:
            anchor = cpath + (key,)
        for i, w in enumerate(items):
            if isinstance(w, (str, int, float)) and not isinstance(w, bool):
                words.append(str(w))
                paths.append(cpath + (key, i))
    # sh -c "script": the script's words replace the wrapper
    if len(words) >= 3 and _binary(words[0]) in _SHELLS and words[1] in ("-c", "-ec", "-ce", "-xc", "-euc"):
        try:
            script = shlex.split(words[2], comments=True)
        except ValueError:
            script = words[2].split()
        return script, [paths[2]] * len(script), anchor, had_command
    return words, paths, anchor, had_command


def _locate_binary(words: Sequence[str]) -> tuple[str, int] | None:
    """(component, index of the first argument) for the component binary among the words."""
    for i, w in enumerate(words):
        b = _binary(w)
        if b in COMPONENTS:
            return b, i + 1
        if b == "hyperkube" and i + 1 < len(words):
            name = _HYPERKUBE.get(words[i + 1]) or (words[i + 1] if words[i + 1] in COMPONENTS else None)
            if name:
                return name, i + 2
    return None


def _argv_from(words: list[str], paths: list[Path], start: int) -> tuple[tuple[str, ...], tuple[Path, ...]]:
    end = len(words)
    for j in range(start, len(words)):
        if words[j] in _SHELL_STOP:
            end = j
            break
    return tuple(words[start:end]), tuple(paths[start:end])


def _container_component(name: str | None, image: str | None) -> str | None:
    if name in COMPONENTS:
        return name
    if image:
        repo = parse_image(image).repository.rsplit("/", 1)[-1]
        if repo in COMPONENTS:
            return repo
    return None


def components(obj: K8sObject) -> dict[str, Component]:
    """The Kubernetes components run by the containers of a pod-bearing object (computed once)."""
    memo = obj.memo
    hit = memo.get("kf.components")
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    out: dict[str, Component] = {}
    pod = pod_spec(obj)
    if pod is not None:
        items = pod.spec.get("containers")
        if isinstance(items, list):
            for i, c in enumerate(items):
                if not isinstance(c, dict):
                    continue
                comp = _component_of_container(obj, c, pod.path + ("containers", i))
                if comp is not None and comp.name not in out:
                    out[comp.name] = comp
    memo["kf.components"] = out
    return out


def _component_of_container(obj: K8sObject, c: Mapping[str, Any], cpath: Path) -> Component | None:
    words, paths, anchor, had_command = _words(c, cpath)
    found = _locate_binary(words) if had_command or words else None
    if found is not None:
        name, start = found
        argv, apaths = _argv_from(words, paths, start)
    else:
        cname = c.get("name") if isinstance(c.get("name"), str) else None
        img = c.get("image") if isinstance(c.get("image"), str) else None
        name = _container_component(cname, img)  # type: ignore[assignment]
        if name is None:
            return None
        if had_command:
            return None  # a component image running something else (a debug shell, a script...)
        argv, apaths = tuple(words), tuple(paths)
    return Component(
        name=name,
        obj=obj,
        container=c,
        container_path=cpath,
        argv=argv,
        paths=apaths,
        anchor=anchor or cpath,
        flags=parse_flags(argv),
    )


def component(obj: K8sObject, name: str) -> Component | None:
    return components(obj).get(name)


def find_components(objects: Iterator[K8sObject] | Sequence[K8sObject], name: str) -> list[Component]:
    out = []
    for o in objects:
        c = component(o, name)
        if c is not None:
            out.append(c)
    return out
