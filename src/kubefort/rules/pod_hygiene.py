"""POD rules about hygiene: ports, entrypoints, namespaces, resources and probes (KF-POD-034..045)."""

from __future__ import annotations

import contextlib
import fnmatch
import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject, Path, iter_dicts
from ..model.workloads import ContainerSet, ContainerView, PodSpecView, pod_spec

NSA = "NSA/CISA: pod security"

SSH_PORTS = frozenset({22, 2222})
#: Namespaces skipped by namespace-level rules (catalogue legend 7), plus the ``system_namespaces`` parameter.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
CONTROL_PLANE_COMPONENTS = frozenset({"kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler"})
DEFAULT_SYSTEM_WORKLOADS = (
    "coredns",
    "kube-proxy",
    "kube-dns",
    "metrics-server",
    # CNI daemonsets (and their controllers) that install into kube-system
    "calico-node",
    "calico-kube-controllers",
    "calico-typha",
    "canal",
    "cilium",
    "cilium-operator",
    "cilium-envoy",
    "cilium-node-init",
    "kube-flannel-ds",
    "weave-net",
    "aws-node",
    "kube-router",
    "kindnet",
    "antrea-agent",
    "antrea-controller",
    "kube-multus-ds",
)
#: Host paths that hold cloud or cluster credentials. Entries starting with a dot directory are
#: relative to a home directory and match anywhere in the path.
CLOUD_CREDENTIAL_PATHS = (
    "/.aws",
    "/.config/gcloud",
    "/.azure",
    "/etc/kubernetes/azure.json",
    "/var/lib/kubelet/kubeconfig",
    "/etc/kubernetes/cloud.conf",
    "/etc/gcp",
    "/.kube",
)
_HOME_RELATIVE = tuple(p for p in CLOUD_CREDENTIAL_PATHS if p.startswith("/."))
_ABSOLUTE = tuple(p for p in CLOUD_CREDENTIAL_PATHS if not p.startswith("/."))
#: Objects Kubernetes itself creates in the default namespace.
_BUILTIN_DEFAULT_OBJECTS = {("ConfigMap", "kube-root-ca.crt")}


# --------------------------------------------------------------------------------------------- helpers


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _closest(raw: Mapping[str, Any], path: Path) -> Path:
    """The longest prefix of ``path`` that exists in ``raw`` (where to point at a missing field)."""
    cur: Any = raw
    for i, step in enumerate(path):
        if isinstance(step, int):
            ok = isinstance(cur, list) and 0 <= step < len(cur)
        else:
            ok = isinstance(cur, dict) and step in cur and cur[step] is not None
        if not ok:
            return path[:i]
        cur = cur[step]
    return path


def _ports(c: ContainerView) -> Iterator[tuple[int, Mapping[str, Any]]]:
    ports = c.raw.get("ports")
    if isinstance(ports, list):
        for j, p in enumerate(ports):
            if isinstance(p, dict):
                yield j, p


def _is_tcp(port: Mapping[str, Any]) -> bool:
    proto = port.get("protocol")
    return proto is None or proto == "TCP"


def _resource(c: ContainerView, section: str, name: str) -> bool:
    res = c.raw.get("resources")
    sec = res.get(section) if isinstance(res, dict) else None
    return isinstance(sec, dict) and sec.get(name) not in (None, "")


def _pod_resource(pod: PodSpecView, section: str, name: str) -> bool:
    """Pod-level resources (``spec.resources``, PodLevelResources) bound every container of the pod."""
    res = pod.spec.get("resources")
    sec = res.get(section) if isinstance(res, dict) else None
    return isinstance(sec, dict) and sec.get(name) not in (None, "")


def _ns_path(obj: K8sObject) -> Path:
    return ("metadata", "namespace") if obj.namespace_explicit else ("metadata",)


# --------------------------------------------------------------------------------------------- KF-POD-034


@rule(
    id="KF-POD-034",
    slug="privileged-port",
    title="Container listens on a privileged port",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    rationale="Binding a port below 1024 needs root or NET_BIND_SERVICE, so the image cannot run with the least privileges.",
    remediation="Listen on a port of 1024 or above and map the low port in the Service (port: 80, targetPort: 8080).",
    refs={"trivy": "KSV-0117", "kube-linter": "privileged-ports", "nsa": NSA},
)
def privileged_port(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    pod = c.pod
    if pod.is_windows:
        return  # Windows has no privileged port range
    start = 1024
    if pod.spec.get("hostNetwork") is not True:  # net.* sysctls are refused for hostNetwork pods
        for s in iter_dicts(pod.security_context.get("sysctls")):
            if s.get("name") == "net.ipv4.ip_unprivileged_port_start":
                with contextlib.suppress(ValueError):
                    start = int(str(s.get("value")).strip())
    for j, p in _ports(c):
        port = p.get("containerPort")
        if _is_int(port) and 0 < port < min(start, 1024):
            yield Violation(c.at("ports", j, "containerPort"), f"{c.label} listens on privileged port {port}")


# --------------------------------------------------------------------------------------------- KF-POD-035


def _resolve_named_port(pod: PodSpecView, name: str, protocol: str) -> tuple[int, ContainerView] | None:
    """Kubernetes ``FindPort``: the first port with that name and protocol in the containers, then in
    the sidecar (restartable init) containers."""
    ordered = [c for c in pod.containers(ContainerSet.C) if not c.is_sidecar]
    ordered += [c for c in pod.containers(ContainerSet.C) if c.is_sidecar]
    for c in ordered:
        for _, p in _ports(c):
            if p.get("name") == name and (p.get("protocol") or "TCP") == protocol and _is_int(p.get("containerPort")):
                return p["containerPort"], c
    return None


def _service_ssh(svc: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec = svc.get("spec")
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not selector:
        return  # no selector: endpoints are managed by hand and are not pods of this input
    selected = ctx.inventory.pods_selected_by_service(svc.namespace or "", selector)
    unresolved: list[str] = []
    found = False
    for i, sp in enumerate(iter_dicts(spec.get("ports"))):
        protocol = sp.get("protocol") or "TCP"
        if protocol != "TCP":
            continue
        name = sp.get("name")
        label = f'Service port "{name}"' if isinstance(name, str) and name else f"Service port {sp.get('port')}"
        if sp.get("targetPort") is not None:
            target, tpath = sp["targetPort"], ("spec", "ports", i, "targetPort")
        else:
            target, tpath = sp.get("port"), ("spec", "ports", i, "port")
        if _is_int(target):
            if target in SSH_PORTS:
                found = True
                yield Violation(tpath, f"{label} forwards to SSH port {target} of the pods it selects")
        elif isinstance(target, str) and target:
            if not selected:
                unresolved.append(target)
                continue
            for pod in selected:
                hit = _resolve_named_port(pod, target, protocol)
                if hit is not None and hit[0] in SSH_PORTS:
                    found = True
                    yield Violation(
                        tpath,
                        f'{label} targets the named port "{target}", which is SSH port {hit[0]} of '
                        f'{hit[1].label} in {pod.obj.kind} "{pod.obj.name}"',
                    )
                    break
    if unresolved and not found and not ctx.inventory.live:
        raise NotEvaluated(
            f"the Service selects no workload of the input, so named targetPort(s) {', '.join(sorted(set(unresolved)))} "
            "cannot be resolved"
        )


@rule(
    id="KF-POD-035",
    reads_images=False,
    slug="ssh-port",
    title="SSH port exposed by a container",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=sorted(WORKLOAD_KINDS | {"Service"}),
    cross_object=True,
    needs=WORKLOAD_KINDS | {"Service"},
    rationale="An SSH server in a container is a second way in that bypasses Kubernetes access control and audit.",
    remediation="Remove the SSH server and port; use kubectl exec or ephemeral debug containers instead.",
    refs={"kubescape": "C-0042", "kube-linter": "ssh-port", "nsa": NSA},
)
def ssh_port(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == "Service":
        yield from _service_ssh(obj, ctx)
        return
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in pod.containers(ContainerSet.CI):
        for j, p in _ports(c):
            port = p.get("containerPort")
            if _is_int(port) and port in SSH_PORTS and _is_tcp(p):
                yield Violation(c.at("ports", j, "containerPort"), f"{c.label} exposes SSH port {port}")


# --------------------------------------------------------------------------------------------- KF-POD-036


@rule(
    id="KF-POD-036",
    slug="host-aliases",
    title="hostAliases override /etc/hosts",
    severity=Severity.INFO,
    scope=Scope.POD,
    rationale="Entries in the pod's /etc/hosts override DNS silently and can redirect traffic for trusted names.",
    remediation="Remove spec.hostAliases and publish the names in DNS (a Service or an ExternalName Service).",
    refs={"trivy": "KSV-0007", "nsa": NSA},
)
def host_aliases(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    aliases = pod.spec.get("hostAliases")
    if isinstance(aliases, list) and aliases:
        names = sorted({h for a in iter_dicts(aliases) for h in (a.get("hostnames") or []) if isinstance(h, str)})
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        yield Violation(pod.at("hostAliases"), f"pod overrides /etc/hosts for {shown or 'some names'}")


# --------------------------------------------------------------------------------------------- KF-POD-037

#: Shell operators that start a new simple command.
_SHELL_SPLIT = re.compile(r"\|\||&&|\$\(|[;|&\n()`{}]")
#: Words that may precede the command word of a simple command.
_PREFIX_WORDS = frozenset(
    {"exec", "env", "nohup", "time", "command", "builtin", "if", "then", "else", "elif", "do", "while", "until", "!"}
)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _is_sudo(word: str) -> bool:
    return posixpath.basename(word.strip("'\"")) == "sudo"


def _sudo_in_shell(text: str) -> bool:
    """True when some simple command of a shell string runs sudo (``a && sudo b``, ``x; sudo -u y z``)."""
    for segment in _SHELL_SPLIT.split(text):
        words = segment.split()
        k = 0
        while k < len(words) and (
            words[k] in _PREFIX_WORDS or _ASSIGNMENT.match(words[k]) or (k > 0 and words[k].startswith("-"))
        ):
            k += 1
        if k < len(words) and _is_sudo(words[k]):
            return True
    return False


@rule(
    id="KF-POD-037",
    slug="sudo-in-entrypoint",
    title="sudo in container entrypoint",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    rationale="A container that needs sudo runs with a user that can become root, so running as non-root protects nothing.",
    remediation="Do the privileged steps at image build time and run the entrypoint as the target user without sudo.",
    refs={"kubescape": "C-0062", "nsa": NSA},
)
def sudo_in_entrypoint(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    for field in ("command", "args"):
        items = c.raw.get(field)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str):
                continue
            text = item.strip()
            hit = _is_sudo(text) if not re.search(r"\s|[;|&]", text) else _sudo_in_shell(text)
            if hit:
                yield Violation(c.at(field, i), f"{c.label} runs sudo in its {field}")


# --------------------------------------------------------------------------------------------- KF-POD-038


def _normalise_host_path(path: str) -> str:
    p = re.sub(r"/+", "/", path.strip().replace("\\", "/"))  # Windows nodes: C:\\Users\\me\\.aws
    if len(p) > 1:
        p = p.rstrip("/")
    return p


def _credential_match(path: str) -> str | None:
    """How a host path exposes cloud credentials: it is, is below, or is a directory above a credential
    location (path components compared, so ``/.kubex`` does not match ``/.kube``); None when it does not."""
    p = _normalise_host_path(path)
    padded = p.rstrip("/") + "/"
    for cred in CLOUD_CREDENTIAL_PATHS:
        if cred + "/" in padded:  # equal to, ends with, or below the credential location
            shown = "~" + cred if cred in _HOME_RELATIVE else cred
            return f"which is {'' if padded.endswith(cred + '/') else 'inside '}the credential location {shown}"
    if p == "/":
        return "which holds every credential location"
    below = [cred for cred in _ABSOLUTE if cred.startswith(padded)]  # a parent directory of credential files
    if below:
        return "which contains " + ", ".join(below)
    if p in ("/root", "/home") or re.fullmatch(r"/home/[^/]+", p):
        return "which holds home directories with " + ", ".join("~" + c for c in _HOME_RELATIVE)
    return None


@rule(
    id="KF-POD-038",
    slug="cloud-credentials-host-path",
    title="Cloud credential path mounted from host",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    rationale="Node cloud credentials and kubeconfigs let a compromised container act as the node on the cloud or cluster API.",
    remediation="Do not mount credential paths from the host; use workload identity (IRSA, Workload Identity, Azure AD workload identity).",
    refs={"kubescape": "C-0020", "nsa": NSA},
)
def cloud_credentials_host_path(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    for i, vol in pod.volumes():
        hp = vol.get("hostPath")
        path = hp.get("path") if isinstance(hp, dict) else None
        if not isinstance(path, str) or not path:
            continue
        how = _credential_match(path)
        if how is not None:
            yield Violation(
                pod.at("volumes", i, "hostPath", "path"),
                f'hostPath volume "{vol.get("name", i)}" mounts {path}, {how}',
            )


# --------------------------------------------------------------------------------------------- KF-POD-039


_RBAC_GROUP = "rbac.authorization.k8s.io"


def _default_identity(name: str) -> bool:
    """The user name or group of the default namespace's ServiceAccounts."""
    return name == "system:serviceaccounts:default" or name.startswith("system:serviceaccount:default:")


def _outside_default(binding: K8sObject) -> list[str]:
    """The subjects of a RoleBinding that are not identities of the default namespace."""
    out = []
    for s in iter_dicts(binding.get("subjects")):
        kind, name = s.get("kind"), s.get("name")
        if kind == "ServiceAccount":
            ns = s.get("namespace") or binding.namespace
            if ns != "default":
                out.append(f"ServiceAccount {ns}/{name}")
        elif kind in ("User", "Group") and not _default_identity(str(name)):
            out.append(f"{kind} {name}")
    return out


def _grants_into_default(obj: K8sObject, ctx: Context) -> list[str]:
    """Who a Role or RoleBinding of the default namespace gives access to that namespace, when that is
    someone from outside it: such an object must live in ``default`` to do its job (a monitoring
    stack's Role there to discover the API server's endpoints), so it is not an application put there."""
    if obj.group != _RBAC_GROUP:
        return []
    if obj.kind == "RoleBinding":
        return _outside_default(obj)
    out: list[str] = []
    for b in ctx.inventory.in_namespace(obj.namespace or "default", "RoleBinding"):
        ref = b.get("roleRef")
        if isinstance(ref, dict) and ref.get("kind") == "Role" and ref.get("name") == obj.name:
            out.extend(_outside_default(b))
    return out


def _unnamespaced(inv: Inventory) -> tuple[int, int] | None:
    """When no namespaced object of the input names its namespace (a set meant for ``kubectl apply -n
    NAMESPACE``): (id of the first object KF-POD-039 is about, how many it is about). Kept by the inventory."""

    def build() -> tuple[int, int] | None:
        if any(o.namespace_explicit for o in inv.objects):
            return None
        mine = [o for o in inv.objects if o.kind in _POD_039_KINDS and o.namespace is not None]
        return (id(mine[0]), len(mine)) if mine else None

    return inv.cached("KF-POD-039-unnamespaced", build)


_POD_039_KINDS = frozenset(WORKLOAD_KINDS | {"Service", "Role", "RoleBinding", "ConfigMap", "Secret"})


@rule(
    id="KF-POD-039",
    reads_images=False,
    slug="default-namespace",
    title="Workload in the default namespace",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=sorted(_POD_039_KINDS),
    params={"assume_namespace": "default"},
    # whether a Role must live in default depends on its RoleBindings, and an object without a namespace
    # on whether the input names any namespace at all: not judged one object at a time (the webhook)
    cross_object=True,
    needs=["RoleBinding"],
    rationale="The default namespace mixes unrelated objects, so RBAC, network policies and quotas cannot isolate them.",
    remediation="Create a namespace for the application and set metadata.namespace on its objects.",
    refs={"cis": "5.6.4", "kubescape": ("C-0061", "C-0212"), "checkov": "CKV_K8S_21", "trivy": "KSV-0110"},
)
def default_namespace(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    """Roles and RoleBindings that give identities from elsewhere access to ``default`` pass: they must
    live there. A manifest set that names no namespace at all is meant for ``kubectl apply -n``: that is
    said once, on its first object, and the others are not evaluated (where they go is decided then)."""
    if (obj.kind, obj.name) in _BUILTIN_DEFAULT_OBJECTS:
        return
    if obj.kind == "Service" and obj.name == "kubernetes" and obj.labels.get("provider") == "kubernetes":
        return  # the API server's own Service
    if obj.namespace != "default":
        return
    if not obj.namespace_explicit and ctx.param("assume_namespace") != "default":
        return
    if obj.kind in ("Role", "RoleBinding") and _grants_into_default(obj, ctx):
        return  # grants an outside identity access to default: its place is there
    if obj.namespace_explicit:
        yield Violation(("metadata", "namespace"), f'{obj.kind} "{obj.name}" is in the default namespace')
        return
    whole = _unnamespaced(ctx.inventory)
    if whole is not None and not ctx.inventory.live:
        first, n = whole
        if id(obj) != first:
            raise NotEvaluated(
                "no object of the input names a namespace: kubectl apply -n NAMESPACE decides where it goes "
                "(said once, on the first object); scan with -n NAMESPACE to judge it"
            )
        yield Violation(
            ("metadata",),
            f"none of the {n} namespaced objects of the input names a namespace: kubectl apply -n NAMESPACE "
            "decides where they go, and without -n they all land in the default namespace; scan with "
            "-n NAMESPACE to judge them there",
            subcode="no_namespaces",
        )
        return
    yield Violation(
        ("metadata",),
        f'{obj.kind} "{obj.name}" names no namespace and would be created in the default namespace',
    )


# --------------------------------------------------------------------------------------------- KF-POD-040


def _owner_names(obj: K8sObject) -> list[str]:
    """Names of the controlling owners, with a ReplicaSet's ``-<pod-template-hash>`` suffix removed."""
    out = []
    h = obj.labels.get("pod-template-hash")
    for ref in iter_dicts(obj.get("metadata", "ownerReferences")):
        name = ref.get("name")
        if ref.get("controller") is True and isinstance(name, str):
            if h and name.endswith("-" + h):
                name = name[: -len(h) - 1]
            out.append(name)
    return out


@rule(
    id="KF-POD-040",
    slug="user-workload-in-kube-system",
    title="User workload in kube-system",
    severity=Severity.LOW,
    scope=Scope.POD,
    params={"system_workloads": list(DEFAULT_SYSTEM_WORKLOADS)},
    rationale="kube-system holds highly privileged service accounts and secrets; user workloads there share that trust zone.",
    remediation="Move the workload to its own namespace, or list it in system_workloads if it is a cluster component.",
    refs={"trivy": "KSV-0037"},
)
def user_workload_in_kube_system(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    obj = pod.obj
    if obj.namespace != "kube-system":
        return
    for labels in (obj.labels, pod.labels):
        if labels.get("tier") == "control-plane" and labels.get("component") in CONTROL_PLANE_COMPONENTS:
            return
    patterns = [p for p in (ctx.param("system_workloads") or []) if isinstance(p, str)]
    for name in [obj.name, *_owner_names(obj)]:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return
    yield Violation(
        _ns_path(obj), f'{obj.kind} "{obj.name}" runs in kube-system but is not a recognised system component'
    )


# --------------------------------------------------------------------------------------------- KF-POD-041..043


@rule(
    id="KF-POD-041",
    slug="memory-limit-missing",
    title="Memory limit not set",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.C,
    rationale="A container without a memory limit can exhaust the node's memory and get other pods evicted or killed.",
    remediation="Set resources.limits.memory on every container and sidecar.",
    refs={
        "kubescape": ("C-0004", "C-0271", "C-0009"),
        "checkov": "CKV_K8S_13",
        "trivy": "KSV-0018",
        "polaris": "memoryLimitsMissing",
        "kube-score": "container-resources",
        "kube-linter": "unset-memory-requirements",
        "kubeaudit": ("limits/LimitsMemoryNotSet", "limits/LimitsNotSet"),
        "nsa": NSA,
    },
)
def memory_limit_missing(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if _resource(c, "limits", "memory") or _pod_resource(c.pod, "limits", "memory"):
        return
    yield Violation(_closest(c.obj.raw, c.at("resources", "limits")), f"{c.label} has no memory limit")


@rule(
    id="KF-POD-042",
    slug="cpu-limit-missing",
    title="CPU limit not set",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.C,
    params={"require_cpu_limit": True},
    rationale="A container without a CPU limit can starve the other pods of its node.",
    remediation="Set resources.limits.cpu on every container and sidecar, or set require_cpu_limit to false.",
    refs={
        "kubescape": ("C-0050", "C-0270"),
        "checkov": "CKV_K8S_11",
        "trivy": "KSV-0011",
        "polaris": "cpuLimitsMissing",
        "kube-score": "container-resources",
        "kube-linter": "unset-cpu-requirements",
        "kubeaudit": ("limits/LimitsCPUNotSet", "limits/LimitsNotSet"),
        "nsa": NSA,
    },
)
def cpu_limit_missing(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if ctx.param("require_cpu_limit") is False:
        return
    if _resource(c, "limits", "cpu") or _pod_resource(c.pod, "limits", "cpu"):
        return
    yield Violation(_closest(c.obj.raw, c.at("resources", "limits")), f"{c.label} has no CPU limit")


@rule(
    id="KF-POD-043",
    slug="resource-requests-missing",
    title="CPU or memory requests not set",
    severity=Severity.INFO,
    scope=Scope.CONTAINER,
    containers=ContainerSet.C,
    rationale="Without requests the scheduler cannot place the pod sensibly and it is among the first evicted under pressure.",
    remediation="Set resources.requests.cpu and resources.requests.memory on every container and sidecar.",
    refs={
        "kubescape": ("C-0268", "C-0269"),
        "checkov": ("CKV_K8S_10", "CKV_K8S_12"),
        "trivy": ("KSV-0015", "KSV-0016"),
        "polaris": ("cpuRequestsMissing", "memoryRequestsMissing"),
        "kube-score": "container-resources",
    },
)
def resource_requests_missing(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    for res, label in (("cpu", "CPU"), ("memory", "memory")):
        # Kubernetes defaults a missing request to the limit of the same resource (SetDefaults_Pod).
        if _resource(c, "requests", res) or _resource(c, "limits", res) or _pod_resource(c.pod, "requests", res):
            continue
        yield Violation(
            _closest(c.obj.raw, c.at("resources", "requests")),
            f"{c.label} has no {label} request",
            severity=Severity.INFO,
            subcode=res,
        )


# --------------------------------------------------------------------------------------------- KF-POD-044


@rule(
    id="KF-POD-044",
    reads_images=False,
    slug="namespace-without-quota",
    title="Namespace without ResourceQuota or LimitRange",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    params={"system_namespaces": []},
    cross_object=True,
    needs=WORKLOAD_KINDS | {"ResourceQuota", "LimitRange"},
    rationale="Without a ResourceQuota and a LimitRange one namespace can consume the cluster's capacity and containers get no default limits.",
    remediation="Add a ResourceQuota and a LimitRange (with default limits) to every namespace that runs workloads.",
    refs={"trivy": ("KSV-0039", "KSV-0040"), "nsa": NSA},
)
def namespace_without_quota(ns: K8sObject, ctx: Context) -> Iterator[Violation]:
    name = ns.name
    extra = ctx.param("system_namespaces") or []
    if name in SYSTEM_NAMESPACES or name in extra:
        return
    inv = ctx.inventory
    # a cluster's Pods, ReplicaSets and Jobs made by a controller count once, as that controller
    workloads = [w for w in inv.in_namespace(name, *WORKLOAD_KINDS) if inv.controller(w) is None]
    if not workloads:
        return
    n = len(workloads)
    what = f'namespace "{name}" runs {n} workload{"s" if n != 1 else ""}'
    if not inv.in_namespace(name, "ResourceQuota"):
        yield Violation(("metadata",), f"{what} but has no ResourceQuota", severity=Severity.LOW, subcode="quota")
    if not inv.in_namespace(name, "LimitRange"):
        yield Violation(("metadata",), f"{what} but has no LimitRange", severity=Severity.LOW, subcode="limitrange")


# --------------------------------------------------------------------------------------------- KF-POD-045


@rule(
    id="KF-POD-045",
    slug="liveness-probe-missing",
    title="Liveness probe not configured",
    severity=Severity.INFO,
    scope=Scope.CONTAINER,
    containers=ContainerSet.C,
    rationale="Without a liveness probe a hung container keeps receiving traffic until someone restarts it by hand.",
    remediation="Add a livenessProbe (httpGet, tcpSocket, grpc or exec) to every long-running container.",
    refs={
        "kubescape": "C-0056",
        "checkov": "CKV_K8S_8",
        "polaris": "livenessProbeMissing",
        "kube-score": "pod-probes",
        "kube-linter": "no-liveness-probe",
    },
)
def liveness_probe_missing(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.obj.kind in ("Job", "CronJob"):
        return  # run-to-completion pods: a hung batch container is bounded by activeDeadlineSeconds
    if isinstance(c.raw.get("livenessProbe"), dict):
        return
    yield Violation(c.path, f"{c.label} has no liveness probe")


RULES = [
    privileged_port,
    ssh_port,
    host_aliases,
    sudo_in_entrypoint,
    cloud_credentials_host_path,
    default_namespace,
    user_workload_in_kube_system,
    memory_limit_missing,
    cpu_limit_missing,
    resource_requests_missing,
    namespace_without_quota,
    liveness_probe_missing,
]
