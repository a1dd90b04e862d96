"""RT rules: untrusted workloads and sandboxed container runtimes (gVisor, Kata Containers).

KF-RT-002 and KF-RT-003 judge a whole cluster's RuntimeClasses (catalogue input ``cluster``): on
manifests they are not evaluated. The RuntimeClass admission controller rejects a pod whose
``runtimeClassName`` names no RuntimeClass (``node.k8s.io``); a RuntimeClass's ``handler`` names the
runtime the node runs its pods with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..engine.rule import Context, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject
from ..model.workloads import PodSpecView, pod_spec

NSA = "NSA/CISA: pod security (sandboxed runtimes)"

#: Agent Sandbox (kubernetes-sigs/agent-sandbox) kinds and where their pod template lives.
SANDBOX_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Sandbox": (("spec", "podTemplate", "metadata"), ("spec", "podTemplate", "spec")),
    "SandboxTemplate": (("spec", "podTemplate", "metadata"), ("spec", "podTemplate", "spec")),
}
SANDBOX_GROUPS = ("agents.x-k8s.io", "extensions.agents.x-k8s.io")

SANDBOX_HANDLERS = frozenset({"runsc", "gvisor"})
#: RuntimeClass names that conventionally run a sandbox (gVisor, kata-deploy), used for a
#: runtimeClassName whose RuntimeClass object is not in the input.
WELL_KNOWN_SANDBOX_CLASSES = frozenset({"gvisor", "runsc", "kata", "kata-qemu", "kata-clh", "kata-fc"})


def _is_sandbox_handler(handler: Any) -> bool:
    return isinstance(handler, str) and (handler in SANDBOX_HANDLERS or handler.startswith("kata"))


def _parse_selector(text: str) -> list[tuple[str, str | None]]:
    """``key=value,other`` -> [(key, value), (other, None)]: every requirement must hold (None: key exists)."""
    out: list[tuple[str, str | None]] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "==" in part:
            k, v = part.split("==", 1)
        elif "=" in part:
            k, v = part.split("=", 1)
        else:
            out.append((part, None))
            continue
        out.append((k.strip(), v.strip()))
    return out


def _matches(reqs: list[tuple[str, str | None]], values: Mapping[str, Any] | None) -> bool:
    if not reqs or not values:
        return False
    return all(k in values and (v is None or str(values[k]) == v) for k, v in reqs)


def _pod_view(obj: K8sObject) -> PodSpecView | None:
    if obj.kind in WORKLOAD_KINDS:
        return pod_spec(obj)
    paths = SANDBOX_KINDS.get(obj.kind)
    if paths is None or obj.group not in SANDBOX_GROUPS:
        return None
    spec = obj.get(*paths[1])
    if not isinstance(spec, dict):
        return None
    return PodSpecView(obj=obj, spec=spec, path=paths[1], meta_path=paths[0])


def _untrusted_reason(obj: K8sObject, pod: PodSpecView, ctx: Context) -> str | None:
    if obj.kind in (ctx.param("untrusted_kinds") or []):
        return f"its kind {obj.kind} is listed in untrusted_kinds"
    selector = ctx.param("untrusted_selector") or ""
    reqs = _parse_selector(selector)
    if not reqs:
        return None
    if obj.namespace:
        ns = ctx.inventory.get("Namespace", None, obj.namespace)
        if ns is not None and (
            _matches(reqs, ctx.inventory.namespace_labels(obj.namespace)) or _matches(reqs, ns.annotations)
        ):
            return f'its namespace "{obj.namespace}" matches {selector}'
    for where, labels, notes in (
        ("it", obj.labels, obj.annotations),
        ("its pod template", pod.labels, pod.annotations),
    ):
        if _matches(reqs, labels) or _matches(reqs, notes):
            return f"{where} matches {selector}"
    return None


def _is_sandbox_class(name: str, ctx: Context) -> bool:
    configured = [c for c in (ctx.param("sandbox_runtime_classes") or []) if isinstance(c, str)]
    if configured:
        return name in configured
    for rc in ctx.inventory.of_kind("RuntimeClass"):
        if rc.name == name:  # the RuntimeClass is in the input: its handler decides
            return _is_sandbox_handler(rc.get("handler"))
    return name in WELL_KNOWN_SANDBOX_CLASSES or name.startswith("kata-")


@rule(
    id="KF-RT-001",
    reads_images=False,
    slug="untrusted-workload-not-sandboxed",
    title="Untrusted workload not sandboxed",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=sorted(WORKLOAD_KINDS | set(SANDBOX_KINDS)),
    params={
        "untrusted_selector": "kubefort.io/untrusted=true",
        "untrusted_kinds": ["Sandbox", "SandboxTemplate"],
        "sandbox_runtime_classes": [],
    },
    cross_object=True,
    needs=["Namespace", "RuntimeClass"],
    rationale="Untrusted code shares the host kernel with every other pod unless it runs in a sandboxed runtime such as gVisor or Kata Containers.",
    remediation="Set spec.runtimeClassName to a RuntimeClass whose handler is a sandbox (runsc/gvisor or kata*).",
    refs={"kubescape": ("C-0297", "C-0249", "C-0242"), "nsa": NSA},
)
def untrusted_workload_not_sandboxed(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    pod = _pod_view(obj)
    if pod is None:
        return
    why = _untrusted_reason(obj, pod, ctx)
    if why is None:
        return
    rc = pod.spec.get("runtimeClassName")
    if not isinstance(rc, str) or not rc:
        yield Violation(
            pod.path, f'{obj.kind} "{obj.name}" is untrusted ({why}) but sets no sandboxed runtimeClassName'
        )
    elif not _is_sandbox_class(rc, ctx):
        yield Violation(
            pod.at("runtimeClassName"),
            f'{obj.kind} "{obj.name}" is untrusted ({why}) but runtime class "{rc}" is not a sandbox',
        )


RUNTIME_CLASS_DOC = "https://kubernetes.io/docs/concepts/containers/runtime-class/"


def _runtime_class_name(obj: K8sObject) -> str | None:
    pod = _pod_view(obj)
    name = pod.spec.get("runtimeClassName") if pod is not None else None
    return name if isinstance(name, str) and name else None


def _sets_runtime_class(obj: K8sObject) -> bool:
    return _runtime_class_name(obj) is not None


def _runtime_classes(ctx: Context) -> list[K8sObject]:
    return [rc for rc in ctx.inventory.of_kind("RuntimeClass") if rc.group == "node.k8s.io"]


@rule(
    id="KF-RT-002",
    slug="runtime-class-missing",
    title="runtimeClassName refers to a missing RuntimeClass",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=sorted(WORKLOAD_KINDS | set(SANDBOX_KINDS)),
    applies=_sets_runtime_class,
    whole_cluster=True,
    needs=["RuntimeClass"],
    rationale="The RuntimeClass admission controller rejects pods that name a RuntimeClass the cluster does not "
    "have: the workload cannot start, and the sandbox it was meant to run in was removed or never installed.",
    remediation="Create the RuntimeClass (with the sandbox handler the nodes run) or point runtimeClassName at an "
    "existing one.",
    refs={"k8s": RUNTIME_CLASS_DOC},
)
def runtime_class_missing(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    name = _runtime_class_name(obj)
    pod = _pod_view(obj)
    if name is None or pod is None:
        return
    known = sorted(rc.name for rc in _runtime_classes(ctx))
    if name in known:
        return
    have = f"it has {', '.join(known)}" if known else "it has none"
    yield Violation(
        pod.at("runtimeClassName"),
        f'{obj.kind} "{obj.name}" sets runtimeClassName "{name}", but the cluster has no such RuntimeClass ({have}): '
        "its pods are rejected at admission",
    )


@rule(
    id="KF-RT-003",
    slug="no-sandbox-runtime-class",
    title="No sandboxed RuntimeClass available",
    severity=Severity.INFO,
    scope=Scope.CLUSTER,
    needs=["RuntimeClass"],
    params={"sandbox_handlers": []},
    rationale="Without a RuntimeClass whose handler is a sandbox (gVisor, Kata Containers) every pod shares the "
    "host kernel, and there is nowhere to run untrusted code in isolation.",
    remediation="Install a sandboxed runtime on (some) nodes and create a RuntimeClass for it (handler runsc for "
    "gVisor, kata-* for Kata Containers), with scheduling constraints to those nodes.",
    refs={"k8s": RUNTIME_CLASS_DOC},
)
def no_sandbox_runtime_class(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    extra = {h for h in ctx.param("sandbox_handlers") or () if isinstance(h, str)}
    classes = _runtime_classes(ctx)
    handlers = {str(rc.get("handler")) for rc in classes if isinstance(rc.get("handler"), str)}
    if any(_is_sandbox_handler(h) or h in extra for h in handlers):
        return
    have = (
        f"the RuntimeClasses' handlers are {', '.join(sorted(handlers))}"
        if handlers
        else "the cluster has no RuntimeClass"
    )
    wanted = ", ".join(sorted({"runsc", "gvisor", "kata*", *extra}))
    yield Violation((), f"no RuntimeClass has a sandbox handler ({wanted}): {have}")


RULES = [untrusted_workload_not_sandboxed, runtime_class_missing, no_sandbox_runtime_class]
