"""POD rules about privilege: privileged containers, host namespaces, capabilities, users.

Pod Security Standards mode (``ctx.pss`` set): rules carrying ``pss=`` metadata judge exactly as the
Pod Security admission controller does at the latest policy version (Kubernetes 1.35+):

- containers are ``initContainers`` (sidecars included, without special-casing), ``containers`` and
  ``ephemeralContainers``;
- capability names are compared as written (no upper-casing, no ``CAP_`` stripping);
- Windows pods (``spec.os.name: windows``) are exempt from ``allowPrivilegeEscalation`` and
  ``capabilities_restricted``; under the restricted level ``capabilities_restricted`` overrides
  ``capabilities_baseline``, so a Windows pod is not judged on added capabilities at all;
- ``hostUsers: false`` skips ``runAsNonRoot`` and ``runAsUser`` (and nothing else judged here);
- the ``hostPorts`` check has no allow-list, and a pod with ``hostNetwork: true`` gets every
  ``containerPort`` of its containers and init containers defaulted into ``hostPort`` by the API
  server before admission.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..engine.fixes import AddItem, FixAt, SetField, SkipWhen, fix
from ..engine.rule import Context, PssLevel, Scope, Severity, Violation, rule
from ..model.host_access import DANGEROUS_CAPABILITIES, RUNTIME_SOCKETS, SENSITIVE_HOST_PATHS
from ..model.host_access import covers as _covers
from ..model.host_access import norm_host_path as _norm_host_path
from ..model.objects import Path
from ..model.workloads import ContainerSet, ContainerView, PodSpecView, normalise_capability
from ._common import BASELINE, RESTRICTED, pss

NSA = "NSA/CISA: pod security"

#: Capabilities a container runtime grants by default (PSS baseline allow-list for ``capabilities.add``).
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)

# ---------------------------------------------------------------------------------------------- helpers


def _is_int(v: Any) -> bool:
    """A YAML integer (``bool`` is an ``int`` subclass in Python; Kubernetes never reads it as one)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _sc_anchor(c: ContainerView) -> Path:
    """Where to point when a container security context field is missing: the security context if the
    container has one, otherwise the container itself."""
    return c.sc_path if isinstance(c.raw.get("securityContext"), dict) else c.path


def _caps(c: ContainerView) -> Mapping[str, Any] | None:
    caps = c.security_context.get("capabilities")
    return caps if isinstance(caps, dict) else None


def _raw_caps(c: ContainerView, which: str) -> list[tuple[int, str]]:
    """``capabilities.add`` / ``drop`` entries as written, with their index."""
    caps = _caps(c)
    items = caps.get(which) if caps is not None else None
    if not isinstance(items, list):
        return []
    return [(i, x) for i, x in enumerate(items) if isinstance(x, str)]


def _caps_anchor(c: ContainerView, which: str) -> Path:
    caps = _caps(c)
    if caps is None:
        return _sc_anchor(c)
    if isinstance(caps.get(which), list):
        return c.sc_path + ("capabilities", which)
    return c.sc_path + ("capabilities",)


def _quote(items: Iterable[str]) -> str:
    return ", ".join(f'"{x}"' for x in items)


def _some(items: list[str], limit: int = 4) -> str:
    """``"a", "b", "c", "d" and 3 more``."""
    return _quote(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _labels(cs: list[ContainerView]) -> str:
    return ", ".join(c.label for c in cs)


def _host_path_volumes(pod: PodSpecView) -> Iterator[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
    """(index, volume, hostPath source) of every hostPath volume (``hostPath: null`` is no hostPath)."""
    for i, v in pod.volumes():
        hp = v.get("hostPath")
        if isinstance(hp, dict):
            yield i, v, hp


def _volume_name(v: Mapping[str, Any], i: int) -> str:
    n = v.get("name")
    return n if isinstance(n, str) else f"#{i}"


def _mounted_volume_names(pod: PodSpecView) -> set[str]:
    out: set[str] = set()
    for c in pod.containers(ContainerSet.ALL):
        mounts = c.raw.get("volumeMounts")
        if isinstance(mounts, list):
            out.update(m["name"] for m in mounts if isinstance(m, dict) and isinstance(m.get("name"), str))
    return out


# ---------------------------------------------------------------------------------------------- rules

_APE_PRIVILEGED = "the container is privileged: the API server refuses allowPrivilegeEscalation: false with it"
#: KF-POD-013/014: drop ALL, except in a privileged container, which keeps every capability whatever it drops
_DROP_ALL = fix(
    FixAt.CONTAINER,
    AddItem(("securityContext", "capabilities", "drop"), "ALL"),
    skip_when=(
        SkipWhen(
            ("securityContext", "privileged"),
            True,
            "the container is privileged, so it keeps every capability whatever it drops: fix KF-POD-001 first",
        ),
    ),
)
_APE_SYS_ADMIN = "the container adds SYS_ADMIN: the API server refuses allowPrivilegeEscalation: false with it"


@rule(
    id="KF-POD-001",
    slug="privileged-container",
    title="Privileged container",
    severity=Severity.CRITICAL,
    scope=Scope.CONTAINER,
    rationale="A privileged container has every capability and the host's devices: escaping to the node is trivial.",
    remediation="Remove securityContext.privileged or set it to false.",
    refs={
        "pss": "Privileged Containers (baseline, privileged)",
        "cis": "5.2.2",
        "kubescape": ("C-0057", "C-0193", "C-0213"),
        "checkov": ("CKV_K8S_16", "CKV_K8S_2"),
        "trivy": "KSV-0017",
        "polaris": "runAsPrivileged",
        "kube-score": "container-security-context-privileged",
        "kube-linter": "privileged-container",
        "kubeaudit": "privileged/PrivilegedTrue",
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "Privileged Containers", "privileged")],
    fix=fix(
        FixAt.CONTAINER,
        SetField(("securityContext", "privileged"), False),
        opt_in="a privileged workload (a CNI or storage driver, a node agent) may need host devices or every "
        "capability to start",
    ),
)
def privileged_container(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    p = c.sc("privileged")
    if p.value is True:
        yield Violation(p.path, f"{c.label} runs privileged")  # type: ignore[arg-type]


@rule(
    id="KF-POD-002",
    slug="privilege-escalation-allowed",
    title="Privilege escalation not disabled",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale="Without allowPrivilegeEscalation: false the no_new_privs flag is off, so setuid binaries and "
    "file capabilities in the image can raise a process above the privileges it started with.",
    remediation="Set securityContext.allowPrivilegeEscalation: false in every container, init container and "
    "ephemeral container.",
    refs={
        "pss": "Privilege Escalation (restricted, allowPrivilegeEscalation)",
        "cis": "5.2.6",
        "kubescape": ("C-0016", "C-0197", "C-0217"),
        "checkov": ("CKV_K8S_20", "CKV_K8S_5"),
        "trivy": "KSV-0001",
        "polaris": "privilegeEscalationAllowed",
        "kube-linter": "privilege-escalation-container",
        "kubeaudit": ("privesc/AllowPrivilegeEscalationTrue", "privesc/AllowPrivilegeEscalationNil"),
        "nsa": NSA,
    },
    pss=[pss(RESTRICTED, "Privilege Escalation", "allowPrivilegeEscalation")],
    # the API server refuses allowPrivilegeEscalation: false with privileged: true or an added CAP_SYS_ADMIN
    # (ValidateSecurityContext); SYS_ADMIN spelled without CAP_ is left alone too: the capability is the same
    fix=fix(
        FixAt.CONTAINER,
        SetField(("securityContext", "allowPrivilegeEscalation"), False),
        skip_when=(
            SkipWhen(("securityContext", "privileged"), True, _APE_PRIVILEGED),
            SkipWhen(("securityContext", "capabilities", "add"), "CAP_SYS_ADMIN", _APE_SYS_ADMIN),
            SkipWhen(("securityContext", "capabilities", "add"), "SYS_ADMIN", _APE_SYS_ADMIN),
        ),
    ),
)
def privilege_escalation(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return  # Linux-only setting; exempt in the standard since 1.25
    ape = c.sc("allowPrivilegeEscalation")
    if ape.value is False:
        return
    if ape.value is True:
        yield Violation(
            ape.path,  # type: ignore[arg-type]  # set: its value is True
            f"{c.label} sets allowPrivilegeEscalation: true",
            subcode="explicit_true",
        )
    elif ape.is_set:
        yield Violation(
            ape.path,  # type: ignore[arg-type]  # is_set
            f"{c.label} sets allowPrivilegeEscalation to a non-boolean value",
            severity=Severity.MEDIUM,
            subcode="unset",
        )
    else:
        yield Violation(
            _sc_anchor(c),
            f"{c.label} does not set allowPrivilegeEscalation: false (escalation is allowed by default)",
            severity=Severity.MEDIUM,
            subcode="unset",
        )


def _host_namespace(pod: PodSpecView, field: str, what: str) -> Iterator[Violation]:
    if pod.spec.get(field) is True:
        yield Violation(pod.at(field), f"pod shares the host {what} namespace ({field}: true)")


_HOST_NS_PSS = [pss(BASELINE, "Host Namespaces", "hostNamespaces")]


@rule(
    id="KF-POD-003",
    slug="host-pid-namespace",
    title="Pod shares the host PID namespace",
    severity=Severity.HIGH,
    scope=Scope.POD,
    rationale="In the host PID namespace a container sees every process of the node, can signal them and, with "
    "ptrace or /proc access, read their memory and environment.",
    remediation="Remove spec.hostPID or set it to false.",
    refs={
        "pss": "Host Namespaces (baseline, hostNamespaces)",
        "cis": "5.2.3",
        "kubescape": ("C-0038", "C-0194", "C-0214", "C-0275"),
        "checkov": ("CKV_K8S_17", "CKV_K8S_1"),
        "trivy": "KSV-0010",
        "polaris": "hostPIDSet",
        "kube-linter": "host-pid",
        "kubeaudit": "hostns/NamespaceHostPIDTrue",
        "nsa": NSA,
    },
    pss=_HOST_NS_PSS,
)
def host_pid(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    yield from _host_namespace(pod, "hostPID", "PID")


@rule(
    id="KF-POD-004",
    slug="host-ipc-namespace",
    title="Pod shares the host IPC namespace",
    severity=Severity.HIGH,
    scope=Scope.POD,
    rationale="In the host IPC namespace a container can read and write the shared memory and message queues of "
    "every process on the node.",
    remediation="Remove spec.hostIPC or set it to false.",
    refs={
        "pss": "Host Namespaces (baseline, hostNamespaces)",
        "cis": "5.2.4",
        "kubescape": ("C-0038", "C-0195", "C-0215", "C-0276"),
        "checkov": ("CKV_K8S_18", "CKV_K8S_3"),
        "trivy": "KSV-0008",
        "polaris": "hostIPCSet",
        "kube-linter": "host-ipc",
        "kubeaudit": "hostns/NamespaceHostIPCTrue",
        "nsa": NSA,
    },
    pss=_HOST_NS_PSS,
)
def host_ipc(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    yield from _host_namespace(pod, "hostIPC", "IPC")


@rule(
    id="KF-POD-005",
    slug="host-network-namespace",
    title="Pod shares the host network namespace",
    severity=Severity.HIGH,
    scope=Scope.POD,
    rationale="In the host network namespace a container can bind node ports, sniff node traffic and reach "
    "services listening on the node's loopback, and NetworkPolicies no longer isolate it.",
    remediation="Remove spec.hostNetwork or set it to false; expose the workload through a Service instead.",
    refs={
        "pss": "Host Namespaces (baseline, hostNamespaces)",
        "cis": "5.2.5",
        "kubescape": ("C-0041", "C-0196", "C-0216"),
        "checkov": ("CKV_K8S_19", "CKV_K8S_4"),
        "trivy": "KSV-0009",
        "polaris": "hostNetworkSet",
        "kube-linter": "host-network",
        "kubeaudit": "hostns/NamespaceHostNetworkTrue",
        "nsa": NSA,
    },
    pss=_HOST_NS_PSS,
)
def host_network(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    yield from _host_namespace(pod, "hostNetwork", "network")


@rule(
    id="KF-POD-006",
    slug="host-path-volume",
    title="hostPath volume used",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    rationale="A hostPath volume exposes the node's filesystem to the pod; it is the usual first step of a "
    "container escape and ties the pod to one node.",
    remediation="Replace the hostPath volume with a persistentVolumeClaim, emptyDir, configMap, secret or a CSI volume.",
    refs={
        "pss": "HostPath Volumes (baseline, hostPathVolumes)",
        "cis": "5.2.11",
        "kubescape": ("C-0048", "C-0203"),
        "trivy": "KSV-0023",
        "polaris": "hostPathSet",
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "HostPath Volumes", "hostPathVolumes")],
)
def host_path_volume(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    for i, v, hp in _host_path_volumes(pod):
        path = hp.get("path")
        where = f' "{path}"' if isinstance(path, str) else ""
        yield Violation(pod.at("volumes", i, "hostPath"), f'volume "{_volume_name(v, i)}" uses hostPath{where}')


@rule(
    id="KF-POD-007",
    slug="writable-host-path-mount",
    title="hostPath volume mounted writable",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    rationale="A writable hostPath mount lets the container change files on the node: planting binaries, cron "
    "jobs, static pod manifests or kubelet credentials.",
    remediation="Set readOnly: true on every volumeMount of a hostPath volume, or stop using hostPath.",
    refs={"kubescape": "C-0045", "kube-linter": "writable-host-mount", "nsa": NSA},
)
def writable_host_path_mount(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    host_vols = {v["name"] for _, v, _ in _host_path_volumes(c.pod) if isinstance(v.get("name"), str)}
    mounts = c.raw.get("volumeMounts")
    if not host_vols or not isinstance(mounts, list):
        return
    for j, m in enumerate(mounts):
        if not isinstance(m, dict) or m.get("name") not in host_vols or m.get("readOnly") is True:
            continue
        path = c.at("volumeMounts", j, "readOnly") if "readOnly" in m else c.at("volumeMounts", j)
        yield Violation(path, f'{c.label} mounts hostPath volume "{m["name"]}" writable')


def _sensitive_paths(value: Any) -> list[str]:
    return [_norm_host_path(s) for s in (value or []) if isinstance(s, str) and s]


@rule(
    id="KF-POD-008",
    slug="sensitive-host-path",
    title="Sensitive host path mounted",
    severity=Severity.HIGH,
    scope=Scope.POD,
    params={"sensitive_host_paths": list(SENSITIVE_HOST_PATHS)},
    rationale="Mounting system directories of the node (or a parent of them) exposes host credentials, kubelet "
    "and etcd data, devices and kernel interfaces to the container.",
    remediation="Do not mount system directories of the node; mount only the specific, non-sensitive path the "
    "workload needs, read-only.",
    refs={
        "trivy": "KSV-0121",
        "kube-linter": "sensitive-host-mounts",
        "kubeaudit": "mounts/SensitivePathsMounted",
        "nsa": NSA,
    },
)
def sensitive_host_path(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    sensitive = ctx.derived(_sensitive_paths, "sensitive_host_paths")
    if not sensitive:
        return
    mounted = _mounted_volume_names(pod)
    for i, v, hp in _host_path_volumes(pod):
        path = hp.get("path")
        if not isinstance(path, str) or v.get("name") not in mounted:
            continue
        norm = _norm_host_path(path)
        hits = sorted({s for s in sensitive if _covers(norm, s)})
        if not hits:
            continue
        if hits == [norm]:
            what = f'the sensitive host path "{norm}"'
        else:
            what = f'"{norm}", which exposes {_some(hits)}'
        yield Violation(
            pod.at("volumes", i, "hostPath", "path"), f'hostPath volume "{_volume_name(v, i)}" mounts {what}'
        )


@rule(
    id="KF-POD-009",
    slug="runtime-socket-mount",
    title="Container runtime socket mounted",
    severity=Severity.CRITICAL,
    scope=Scope.POD,
    rationale="Whoever can talk to the container runtime socket can start a privileged container on the node: "
    "mounting it (or a directory that holds it) is root on the node.",
    remediation="Remove the hostPath volume of the runtime socket or its directory; use the Kubernetes API or a "
    "dedicated, audited agent instead.",
    refs={
        "kubescape": "C-0074",
        "checkov": "CKV_K8S_27",
        "trivy": "KSV-0006",
        "kube-linter": "docker-sock",
        "kubeaudit": "mounts/SensitivePathsMounted",
        "nsa": NSA,
    },
)
def runtime_socket_mount(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    for i, v, hp in _host_path_volumes(pod):
        path = hp.get("path")
        if not isinstance(path, str):
            continue
        norm = _norm_host_path(path)
        if norm in RUNTIME_SOCKETS:
            msg = f'hostPath volume "{_volume_name(v, i)}" mounts the container runtime socket "{norm}"'
        else:
            inside = sorted(s for s in RUNTIME_SOCKETS if _covers(norm, s))
            if not inside:
                continue
            msg = (
                f'hostPath volume "{_volume_name(v, i)}" mounts "{norm}", which contains the container runtime '
                f"socket{'s' if len(inside) > 1 else ''} {_some(inside, 3)}"
            )
        yield Violation(pod.at("volumes", i, "hostPath", "path"), msg)


@rule(
    id="KF-POD-010",
    slug="host-port",
    title="Host port exposed",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    params={"allowed_host_ports": []},
    rationale="A host port binds the container directly on the node's addresses, bypassing Services and "
    "NetworkPolicies, and limits scheduling to nodes where the port is free.",
    remediation="Remove ports[].hostPort and expose the workload through a Service (NodePort or LoadBalancer if "
    "it must be reachable from outside).",
    refs={
        "pss": "Host Ports (baseline, hostPorts)",
        "cis": "5.2.12",
        "kubescape": ("C-0044", "C-0204"),
        "checkov": "CKV_K8S_26",
        "trivy": "KSV-0024",
        "polaris": "hostPortSet",
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "Host Ports", "hostPorts")],
)
def host_port(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    ports = c.raw.get("ports")
    if not isinstance(ports, list):
        return
    # The standard's built-in admission has no allow-list.
    allowed = set() if ctx.pss is not None else {p for p in (ctx.param("allowed_host_ports") or []) if _is_int(p)}
    # With hostNetwork the API server defaults hostPort to containerPort in containers and init containers.
    host_net = c.pod.spec.get("hostNetwork") is True and c.list_name in ("containers", "initContainers")
    for j, p in enumerate(ports):
        if not isinstance(p, dict):
            continue
        hp = p.get("hostPort")
        if _is_int(hp) and hp != 0:
            if hp not in allowed:
                yield Violation(c.at("ports", j, "hostPort"), f"{c.label} binds host port {hp}")
        elif host_net and (hp is None or hp == 0):
            cp = p.get("containerPort")
            if _is_int(cp) and cp != 0 and cp not in allowed:
                yield Violation(
                    c.at("ports", j, "containerPort"),
                    f"{c.label} uses the host network, so containerPort {cp} is bound on the node "
                    "(hostPort defaults to it)",
                    subcode="host_network",
                )


@rule(
    id="KF-POD-011",
    slug="capabilities-beyond-baseline",
    title="Capabilities added beyond the baseline default set",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    params={"strict_add": False},
    rationale="Capabilities outside the runtime's default set (SYS_ADMIN, NET_RAW, SYS_PTRACE...) give the "
    "container kernel powers that known container escapes rely on.",
    remediation="Remove the capability from securityContext.capabilities.add, or keep only capabilities of the "
    "default set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, "
    "SETGID, SETPCAP, SETUID, SYS_CHROOT).",
    refs={
        "pss": "Capabilities (baseline, capabilities_baseline)",
        "cis": "5.2.9 (v1.9)",
        "kubescape": ("C-0200", "C-0219"),
        "checkov": ("CKV_K8S_25", "CKV_K8S_24"),
        "trivy": "KSV-0022",
        "kubeaudit": "capabilities/CapabilityAdded",
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "Capabilities", "capabilities_baseline")],
)
def capabilities_beyond_baseline(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if ctx.pss is not None:
        if ctx.pss is PssLevel.RESTRICTED and c.pod.is_windows:
            return  # capabilities_restricted overrides this check and exempts Windows pods
        for i, cap in _raw_caps(c, "add"):
            if cap not in BASELINE_CAPABILITIES:  # admission compares the names as written
                yield Violation(
                    c.sc_path + ("capabilities", "add", i),
                    f'{c.label} adds capability "{cap}", not in the baseline default set',
                )
        return
    strict = ctx.param("strict_add") is True
    for i, cap in _raw_caps(c, "add"):
        path = c.sc_path + ("capabilities", "add", i)
        if normalise_capability(cap) not in BASELINE_CAPABILITIES:
            yield Violation(path, f'{c.label} adds capability "{cap}", not in the baseline default set')
        elif strict:
            yield Violation(path, f'{c.label} adds capability "{cap}" (strict_add: no capability may be added)')


@rule(
    id="KF-POD-012",
    slug="dangerous-capability",
    title="Dangerous capability added",
    severity=Severity.CRITICAL,
    scope=Scope.CONTAINER,
    rationale="SYS_ADMIN, SYS_MODULE, SYS_PTRACE, BPF and the like are each enough to break out of a container "
    "or take over the node; NET_RAW allows spoofing and sniffing on the pod network.",
    remediation="Remove the capability from securityContext.capabilities.add; grant a narrower capability or move "
    "the privileged work out of the workload.",
    refs={
        "kubescape": "C-0046",
        "checkov": "CKV_K8S_39",
        "trivy": ("KSV-0005", "KSV-0120", "KSV-0119"),
        "polaris": "dangerousCapabilities",
        "nsa": NSA,
    },
)
def dangerous_capability(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    for i, cap in _raw_caps(c, "add"):
        name = normalise_capability(cap)
        if name not in DANGEROUS_CAPABILITIES:
            continue
        path = c.sc_path + ("capabilities", "add", i)
        if name == "NET_RAW":
            yield Violation(path, f'{c.label} adds capability "{cap}"', severity=Severity.HIGH, subcode="net_raw")
        elif name == "ALL":
            yield Violation(path, f'{c.label} adds all capabilities ("{cap}")')
        else:
            yield Violation(path, f'{c.label} adds the dangerous capability "{cap}"')


@rule(
    id="KF-POD-013",
    slug="net-raw-not-dropped",
    title="NET_RAW not dropped",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale="NET_RAW is in the runtime's default set: it lets a compromised container craft raw packets for "
    "ARP/DNS spoofing and scanning on the pod network.",
    remediation='Add "NET_RAW" (or better "ALL") to securityContext.capabilities.drop and do not add it back.',
    refs={
        "cis": "5.2.8",
        "kubescape": "C-0199",
        "checkov": ("CKV_K8S_28", "CKV_K8S_7"),
        "kube-linter": "drop-net-raw-capability",
        "nsa": NSA,
    },
    fix=_DROP_ALL,
)
def net_raw_not_dropped(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return  # no Linux capabilities on Windows; the API rejects capabilities on Windows pods
    for i, cap in _raw_caps(c, "add"):
        if normalise_capability(cap) == "NET_RAW":
            yield Violation(c.sc_path + ("capabilities", "add", i), f'{c.label} adds back capability "{cap}"')
            return
    dropped = {normalise_capability(x) for _, x in _raw_caps(c, "drop")}
    if "NET_RAW" not in dropped and "ALL" not in dropped:
        yield Violation(_caps_anchor(c, "drop"), f"{c.label} does not drop NET_RAW (or ALL)")
        return
    p = c.sc("privileged")
    if p.value is True:
        # a privileged container gets every capability: the runtime ignores capabilities.drop
        yield Violation(
            p.path,  # type: ignore[arg-type]  # set: its value is True
            f"{c.label} is privileged, so its capabilities.drop is ignored and it keeps NET_RAW",
            subcode="privileged",
        )


@rule(
    id="KF-POD-014",
    slug="capabilities-not-dropped",
    title="Capabilities not dropped (drop ALL missing)",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale="Containers start with the runtime's default capability set; dropping ALL and adding back only what "
    "is needed removes kernel attack surface a compromised process could use.",
    remediation='Set securityContext.capabilities.drop: ["ALL"] and add back only the capabilities the process needs.',
    refs={
        "pss": "Capabilities (restricted, capabilities_restricted)",
        "cis": "5.2.9",
        "kubescape": ("C-0201", "C-0220"),
        "checkov": ("CKV_K8S_37", "CKV_K8S_36"),
        "trivy": ("KSV-0003", "KSV-0004"),
        "polaris": "insecureCapabilities",
        "kubeaudit": ("capabilities/CapabilityShouldDropAll", "capabilities/CapabilityOrSecurityContextMissing"),
        "nsa": NSA,
    },
    pss=[pss(RESTRICTED, "Capabilities", "capabilities_restricted")],
    fix=_DROP_ALL,
)
def capabilities_not_dropped(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return
    drop = _raw_caps(c, "drop")
    if ctx.pss is not None:
        ok = any(x == "ALL" for _, x in drop)  # admission requires the exact string "ALL"
    else:
        ok = any(normalise_capability(x) == "ALL" for _, x in drop)
    if ok:
        return
    if not drop:
        yield Violation(_caps_anchor(c, "drop"), f"{c.label} drops no capabilities", subcode="none_dropped")
    else:
        names = _quote(x for _, x in drop)
        yield Violation(_caps_anchor(c, "drop"), f'{c.label} drops {names} but not "ALL"')


@rule(
    id="KF-POD-015",
    slug="restricted-capability-added",
    title="Restricted profile: capability added other than NET_BIND_SERVICE",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale="The restricted profile allows a container to add back only NET_BIND_SERVICE after dropping ALL; "
    "any other added capability widens what a compromised process can do in the kernel.",
    remediation="Remove every entry of securityContext.capabilities.add except NET_BIND_SERVICE.",
    refs={"pss": "Capabilities (restricted, capabilities_restricted)", "trivy": "KSV-0106", "nsa": NSA},
    pss=[pss(RESTRICTED, "Capabilities", "capabilities_restricted")],
)
def restricted_capability_added(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return
    exact = ctx.pss is not None
    for i, cap in _raw_caps(c, "add"):
        name = cap if exact else normalise_capability(cap)
        if name != "NET_BIND_SERVICE":
            yield Violation(
                c.sc_path + ("capabilities", "add", i),
                f'{c.label} adds capability "{cap}"; only NET_BIND_SERVICE may be added',
            )


@rule(
    id="KF-POD-016",
    slug="run-as-non-root-not-enforced",
    title="Container may run as root (runAsNonRoot not enforced)",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    params={"pss_strict": False},
    rationale="Unless runAsNonRoot is true the kubelet starts the container as whatever user the image declares, "
    "which is root for most images; root in the container is root on the node after an escape.",
    remediation="Set securityContext.runAsNonRoot: true at pod level (and never false in a container), with a "
    "non-zero runAsUser or an image whose USER is numeric and non-zero.",
    refs={
        "pss": "Running as Non-root (restricted, runAsNonRoot)",
        "cis": "5.2.7",
        "kubescape": ("C-0013", "C-0198", "C-0218"),
        "checkov": ("CKV_K8S_23", "CKV_K8S_6"),
        "trivy": "KSV-0012",
        "polaris": "runAsRootAllowed",
        "kube-linter": "run-as-non-root",
        "kubeaudit": (
            "nonroot/RunAsNonRootPSCNilCSCNil",
            "nonroot/RunAsNonRootPSCFalseCSCNil",
            "nonroot/RunAsNonRootCSCFalse",
        ),
        "nsa": NSA,
    },
    pss=[pss(RESTRICTED, "Running as Non-root", "runAsNonRoot")],
    fix=fix(
        FixAt.POD,
        SetField(("securityContext", "runAsNonRoot"), True),
        opt_in="an image whose user is root (or a name, not a UID) no longer starts: the kubelet refuses it",
    ),
)
def run_as_non_root(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    if pod.host_users_false:
        return  # root in a user namespace is not root on the node
    if ctx.pss is not None or ctx.param("pss_strict") is True:
        yield from _run_as_non_root_pss(pod)
        return
    # peer-compatible: effective runAsNonRoot true, or an effective non-zero runAsUser
    by_path: dict[Path, list[ContainerView]] = {}
    for c in pod.containers(ContainerSet.ALL):
        rnr = c.effective("runAsNonRoot")
        if rnr.value is True:
            continue
        uid = c.effective("runAsUser")
        if _is_int(uid.value) and uid.value != 0:
            continue
        if rnr.is_set:
            path = rnr.path
        elif uid.is_set:
            path = uid.path  # runAsUser: 0
        else:
            path = _sc_anchor(c)
        by_path.setdefault(path, []).append(c)  # type: ignore[arg-type]
    for path, cs in by_path.items():
        pod_level = path[:-1] == pod.sc_path
        if path[-1] == "runAsNonRoot":
            if pod_level:
                msg = f"the pod sets runAsNonRoot: false and no non-zero runAsUser applies to {_labels(cs)}"
            else:
                msg = f"{cs[0].label} sets runAsNonRoot: false and has no non-zero runAsUser"
        elif path[-1] == "runAsUser":
            if pod_level:
                msg = f"the pod sets runAsUser: 0 and runAsNonRoot is not true for {_labels(cs)}"
            else:
                msg = f"{cs[0].label} sets runAsUser: 0 without runAsNonRoot: true"
        else:
            msg = (
                f"{cs[0].label} may run as root: neither runAsNonRoot: true nor a non-zero runAsUser is set "
                "for it or the pod"
            )
        yield Violation(path, msg)


def _run_as_non_root_pss(pod: PodSpecView) -> Iterator[Violation]:
    """Pod Security admission ``runAsNonRoot``: the pod-level value must not be false; each container must
    set true itself or leave it unset under a pod-level true. A non-zero runAsUser does not count."""
    pod_value = pod.security_context.get("runAsNonRoot")
    if pod_value is not None and pod_value is not True:
        yield Violation(pod.sc_path + ("runAsNonRoot",), "the pod sets runAsNonRoot: false")
    implicit: list[ContainerView] = []
    for c in pod.containers(ContainerSet.ALL):
        value = c.security_context.get("runAsNonRoot")
        if value is None:
            if pod_value is not True:
                implicit.append(c)
        elif value is not True:
            yield Violation(c.sc_path + ("runAsNonRoot",), f"{c.label} sets runAsNonRoot: false")
    for c in implicit:
        yield Violation(_sc_anchor(c), f"{c.label} does not set runAsNonRoot: true and the pod does not either")


@rule(
    id="KF-POD-017",
    slug="run-as-uid-zero",
    title="Container explicitly runs as UID 0",
    severity=Severity.HIGH,
    scope=Scope.POD,
    rationale="runAsUser: 0 runs the process as root regardless of the image, so a container escape lands as "
    "root on the node.",
    remediation="Set runAsUser to a non-zero UID (for example 10001) or remove it and build the image with a "
    "non-root USER.",
    refs={
        "pss": "Running as Non-root user (restricted, runAsUser)",
        "trivy": "KSV-0105",
        "kubeaudit": ("nonroot/RunAsUserPSCRoot", "nonroot/RunAsUserCSCRoot"),
        "nsa": NSA,
    },
    pss=[pss(RESTRICTED, "Running as Non-root user", "runAsUser")],
)
def run_as_uid_zero(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    if pod.host_users_false:
        return  # UID 0 is mapped to an unprivileged host UID
    v = pod.security_context.get("runAsUser")
    if _is_int(v) and v == 0:
        yield Violation(pod.sc_path + ("runAsUser",), "the pod sets runAsUser: 0")
    for c in pod.containers(ContainerSet.ALL):
        v = c.security_context.get("runAsUser")
        if _is_int(v) and v == 0:
            yield Violation(c.sc_path + ("runAsUser",), f"{c.label} sets runAsUser: 0")


@rule(
    id="KF-POD-020",
    slug="root-group",
    title="Root group used",
    severity=Severity.LOW,
    scope=Scope.POD,
    rationale="Files owned by group root (0) are often group-writable in images and on the node: running with GID "
    "0 as primary, supplementary or fsGroup gives the process that access.",
    remediation="Set runAsGroup, fsGroup and supplementalGroups to non-zero GIDs.",
    refs={"trivy": "KSV-0116", "nsa": NSA},
)
def root_group(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    by_path: dict[Path, list[ContainerView]] = {}
    for c in pod.containers(ContainerSet.ALL):
        g = c.effective("runAsGroup")
        if _is_int(g.value) and g.value == 0:
            by_path.setdefault(g.path, []).append(c)  # type: ignore[arg-type]
    for path, cs in by_path.items():
        if path[:-1] == pod.sc_path:
            yield Violation(path, f"the pod sets runAsGroup: 0, the primary group of {_labels(cs)}")
        else:
            yield Violation(path, f"{cs[0].label} sets runAsGroup: 0")
    groups = pod.security_context.get("supplementalGroups")
    if isinstance(groups, list):
        for i, gid in enumerate(groups):
            if _is_int(gid) and gid == 0:
                yield Violation(pod.sc_path + ("supplementalGroups", i), "the pod adds supplemental group 0")
    fs = pod.security_context.get("fsGroup")
    if _is_int(fs) and fs == 0:
        yield Violation(pod.sc_path + ("fsGroup",), "the pod sets fsGroup: 0")


RULES = [
    privileged_container,
    privilege_escalation,
    host_pid,
    host_ipc,
    host_network,
    host_path_volume,
    writable_host_path_mount,
    sensitive_host_path,
    runtime_socket_mount,
    host_port,
    capabilities_beyond_baseline,
    dangerous_capability,
    net_raw_not_dropped,
    capabilities_not_dropped,
    restricted_capability_added,
    run_as_non_root,
    run_as_uid_zero,
    root_group,
]
