"""VER rules: end of life, patch level, version skew, known CVEs, deprecated APIs, retired add-ons.

VER-001..005 judge a ``ClusterVersions`` object (``apiVersion: kubefort.io/v1alpha1``) whose
``spec.<component>`` lists the versions of each kube-apiserver, kubelet, ... of a cluster; ``kubefort
versions`` builds it from its options or from a node (``--root``), and the live-cluster scan can
build it from ``/version`` and the Nodes. VER-006 judges every object's apiVersion against a target
release; VER-007 every container image. Release dates, CVEs, deprecated APIs and add-ons come from
the bundled, dated tables in ``kubefort/data/`` (see :mod:`kubefort.analysis.node.versions`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..analysis.node.targets import VERSIONS_SECTION, NodeTarget, NotApplicable
from ..analysis.node.versions import (
    K8S_COMPONENTS,
    ComponentVersion,
    Version,
    addon_table,
    component_versions,
    cve_table,
    deprecated_apis,
    in_ranges,
    is_versions,
    kubelet_max_gap,
    label,
    minor_gap,
    parse_date,
    release_table,
    today_of,
)
from ..engine.rule import Context, NotEvaluated, Rule, Scope, Severity, Violation, rule
from ..model.images import parse_image
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject
from ..model.workloads import ContainerView, pod_spec

NSA = "NSA/CISA: upgrading and application security"
SKEW_DOC = "https://kubernetes.io/releases/version-skew-policy/"
#: VER-001..005 are about the ClusterVersions object (the rules of ``kubefort versions``).
VERSIONS = NodeTarget(VERSIONS_SECTION, is_versions, "no component versions given")
ON_VERSIONS: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": ["ClusterVersions"], "applies": VERSIONS}
TODAY = {"today": ""}


def _versions(obj: K8sObject, component: str) -> list[ComponentVersion]:
    return [cv for cv in component_versions(obj, component) if cv.version is not None]


def _apiservers(obj: K8sObject, ctx: Context, *, required: bool = True) -> list[ComponentVersion]:
    apis = _versions(obj, "kube-apiserver")
    if not apis:
        target = ctx.params.get("target_version")
        v = Version.parse(target) if target else None
        if v is not None:
            return [ComponentVersion("kube-apiserver", v, str(target), "target_version", ("spec",))]
        if required:
            raise NotEvaluated("no kube-apiserver version given")
    return apis


def _supported_text(today: Any) -> str:
    sup = release_table().supported(today)
    return ", ".join(r.minor for r in reversed(sup)) or "none in the bundled table"


@rule(
    id="KF-VER-001",
    slug="kubernetes-end-of-life",
    title="Kubernetes version end-of-life",
    severity=Severity.HIGH,
    params={**TODAY, "target_version": ""},
    rationale="A minor release past its end of life gets no security fixes: every Kubernetes CVE published "
    "since stays open on the cluster.",
    remediation="Upgrade the control plane one minor at a time to a supported release (kubefort versions prints the path).",
    refs={"kubescape": "C-0273", "nsa": NSA, "k8s": "https://kubernetes.io/releases/"},
    **ON_VERSIONS,
)
def kubernetes_eol(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_versions(obj):
        return
    today = today_of(ctx.param("today"))
    table = release_table()
    for cv in _apiservers(obj, ctx):
        v = cv.version
        assert v is not None
        rel = table.get(v.minor_key)
        if rel is None:
            if (v.major, v.minor) > tuple(int(x) for x in table.newest.minor.split(".")):
                yield Violation(
                    cv.path,
                    f"{label(cv)}: {v.minor_key} is newer than the bundled release table "
                    f"({table.as_of}): cannot tell its support status",
                    severity=Severity.INFO,
                    subcode="warn",
                )
            else:
                yield Violation(
                    cv.path,
                    f"{label(cv)}: Kubernetes {v.minor_key} reached end of life long ago "
                    f"(supported: {_supported_text(today)})",
                )
        elif rel.end_of_life is not None and rel.end_of_life <= today:
            yield Violation(
                cv.path,
                f"{label(cv)}: Kubernetes {v.minor_key} reached end of life on "
                f"{rel.end_of_life} (supported: {_supported_text(today)})",
            )


@rule(
    id="KF-VER-002",
    slug="kubernetes-near-end-of-life",
    title="Kubernetes version near end-of-life",
    severity=Severity.LOW,
    params={**TODAY, "eol_warning_days": 60, "max_patches_behind": 2, "target_version": ""},
    rationale="Upgrades take planning: a minor that reaches end of life soon must be upgraded now, and a "
    "component several patch releases behind misses security fixes already published for its minor.",
    remediation="Plan the next minor upgrade before the end-of-life date, and keep every component on the latest patch of its minor.",
    refs={"nsa": NSA, "k8s": "https://kubernetes.io/releases/patch-releases/"},
    **ON_VERSIONS,
)
def kubernetes_near_eol(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_versions(obj):
        return
    today = today_of(ctx.param("today"))
    table = release_table()
    warn_days = int(ctx.param("eol_warning_days"))
    behind_max = int(ctx.param("max_patches_behind"))
    seen_minor: set[str] = set()
    for cv in _apiservers(obj, ctx, required=False):
        v = cv.version
        assert v is not None
        rel = table.get(v.minor_key)
        if rel is None or rel.end_of_life is None or rel.end_of_life <= today or v.minor_key in seen_minor:
            continue
        seen_minor.add(v.minor_key)
        days = (rel.end_of_life - today).days
        if days <= warn_days:
            yield Violation(
                cv.path,
                f"{label(cv)}: Kubernetes {v.minor_key} reaches end of life on {rel.end_of_life} (in {days} days)",
                subcode="eol_soon",
            )
    for comp in K8S_COMPONENTS:
        for cv in _versions(obj, comp):
            v = cv.version
            assert v is not None
            rel = table.get(v.minor_key)
            if rel is None or rel.latest_patch is None or (rel.end_of_life is not None and rel.end_of_life <= today):
                continue
            behind = rel.latest_patch.patch - v.patch
            if behind > behind_max:
                yield Violation(
                    cv.path,
                    f"{label(cv)} is {behind} patch releases behind {rel.latest_patch} "
                    f"(release table of {table.as_of})",
                    subcode="patch_behind",
                )


@rule(
    id="KF-VER-003",
    slug="kubelet-version-skew",
    title="Kubelet version skew outside policy",
    severity=Severity.MEDIUM,
    rationale="Kubelets newer than the API server or more than three minors older are not supported: API "
    "changes can break them silently, and the next control-plane upgrade is blocked.",
    remediation="Upgrade old kubelets (drain each node first) before upgrading the control plane; never run kubelets newer than the oldest API server.",
    refs={"k8s": SKEW_DOC},
    **ON_VERSIONS,
)
def kubelet_skew(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_versions(obj):
        return
    kubelets = _versions(obj, "kubelet")
    if not kubelets:
        raise NotApplicable("no kubelet version given")
    apis = _apiservers(obj, ctx)
    oldest = min(apis, key=lambda c: c.version)  # type: ignore[arg-type, return-value]
    assert oldest.version is not None
    for kl in kubelets:
        v = kl.version
        assert v is not None
        gap = minor_gap(v, oldest.version)
        if gap < 0:
            yield Violation(kl.path, f"{label(kl)} is newer than kube-apiserver {oldest.version}: not supported")
        elif gap > kubelet_max_gap(v):
            yield Violation(
                kl.path,
                f"{label(kl)} is {gap} minors older than kube-apiserver {oldest.version} "
                f"(at most {kubelet_max_gap(v)})",
            )


@rule(
    id="KF-VER-004",
    slug="control-plane-version-skew",
    title="Control-plane component version skew",
    severity=Severity.MEDIUM,
    rationale="The controller manager, scheduler and cloud controller manager must not be newer than the API "
    "servers they talk to nor more than one minor older; API servers of an HA cluster must be within "
    "one minor; kube-proxy follows the kubelet's rules.",
    remediation="Upgrade in order: etcd, every kube-apiserver, then controller manager, scheduler and cloud controller manager, then kubelets and kube-proxy.",
    refs={"k8s": SKEW_DOC},
    **ON_VERSIONS,
)
def control_plane_skew(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_versions(obj):
        return
    apis = _apiservers(obj, ctx)
    oldest = min(apis, key=lambda c: c.version)  # type: ignore[arg-type, return-value]
    newest = max(apis, key=lambda c: c.version)  # type: ignore[arg-type, return-value]
    assert oldest.version is not None and newest.version is not None
    if minor_gap(oldest.version, newest.version) > 1:
        yield Violation(
            newest.path,
            f"kube-apiserver instances differ by more than one minor: {oldest.version} and {newest.version}",
            subcode="kube-apiserver",
        )
    for comp in ("kube-controller-manager", "kube-scheduler", "cloud-controller-manager"):
        for cv in _versions(obj, comp):
            v = cv.version
            assert v is not None
            if minor_gap(v, oldest.version) < 0:
                yield Violation(cv.path, f"{label(cv)} is newer than kube-apiserver {oldest.version}", subcode=comp)
            elif minor_gap(v, newest.version) > 1:
                yield Violation(
                    cv.path,
                    f"{label(cv)} is more than one minor older than kube-apiserver {newest.version}",
                    subcode=comp,
                )
    kubelets = _versions(obj, "kubelet")
    for cv in _versions(obj, "kube-proxy"):
        v = cv.version
        assert v is not None
        gap = minor_gap(v, oldest.version)
        if gap < 0:
            yield Violation(cv.path, f"{label(cv)} is newer than kube-apiserver {oldest.version}", subcode="kube-proxy")
        elif gap > kubelet_max_gap(v):
            yield Violation(
                cv.path,
                f"{label(cv)} is {gap} minors older than kube-apiserver {oldest.version} "
                f"(at most {kubelet_max_gap(v)})",
                subcode="kube-proxy",
            )
        same_node = [k for k in kubelets if k.name and k.name == cv.name] or (kubelets if len(kubelets) == 1 else [])
        for k in same_node:
            assert k.version is not None
            if abs(minor_gap(v, k.version)) > kubelet_max_gap(min(v, k.version)):
                yield Violation(
                    cv.path,
                    f"{label(cv)} and {label(k)} on the same node are more than "
                    f"{kubelet_max_gap(min(v, k.version))} minors apart",
                    subcode="kube-proxy",
                )
    for cv in _versions(obj, "kubectl"):
        v = cv.version
        assert v is not None
        if any(abs(minor_gap(v, a.version)) > 1 for a in apis if a.version is not None):
            yield Violation(
                cv.path,
                f"{label(cv)} is more than one minor away from kube-apiserver "
                f"{', '.join(sorted({str(a.version) for a in apis}))}",
                severity=Severity.LOW,
                subcode="kubectl",
            )


# -- CVEs -------------------------------------------------------------------------------------------------


def _workloads(ctx: Context) -> list[K8sObject]:
    return [o for o in ctx.inventory if o.kind in WORKLOAD_KINDS]


def _trigger(name: str | None, ctx: Context) -> bool | None:
    """Whether the CVE's trigger is present in the input: True, False, or None (cannot tell)."""
    if not name:
        return True
    if name == "aggregated_api":
        svcs = [o for o in ctx.inventory.of_kind("APIService") if isinstance(o.get("spec", "service"), dict)]
        return True if svcs else (False if ctx.inventory.of_kind("APIService") else None)
    if name == "mountable_secrets":
        sas = ctx.inventory.of_kind("ServiceAccount")
        if any(o.annotations.get("kubernetes.io/enforce-mountable-secrets") == "true" for o in sas):
            return True
        return False if sas else None
    wl = _workloads(ctx)
    if not wl:
        return None
    for o in wl:
        pod = pod_spec(o)
        if pod is None:
            continue
        if name == "gitrepo" and any("gitRepo" in v for _, v in pod.volumes()):
            return True
        if name == "subpath":
            for c in pod.containers():
                mounts = c.raw.get("volumeMounts")
                if isinstance(mounts, list) and any(
                    isinstance(m, dict) and (m.get("subPath") or m.get("subPathExpr")) for m in mounts
                ):
                    return True
    return False


_TRIGGER_TEXT = {
    "subpath": "a volumeMount with subPath",
    "gitrepo": "a gitRepo volume",
    "aggregated_api": "an APIService served by a Service",
    "mountable_secrets": "a ServiceAccount enforcing mountable secrets",
}


@rule(
    id="KF-VER-005",
    slug="kubernetes-known-cve",
    title="Version affected by a known Kubernetes CVE",
    severity=Severity.MEDIUM,
    cross_object=True,
    rationale="A component in an affected version range is exploitable as published, often with public proof-of-"
    "concept code, as soon as the conditions the CVE needs are present.",
    remediation="Upgrade the component to a fixed patch release (or apply the advisory's mitigation).",
    refs={
        "kubescape": ("C-0058", "C-0079", "C-0087", "C-0089"),
        "nsa": NSA,
        "k8s": "https://kubernetes.io/docs/reference/issues-security/official-cve-feed/",
    },
    **ON_VERSIONS,
)
def kubernetes_cve(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not is_versions(obj):
        return
    for cve in cve_table():
        for cv in _versions(obj, str(cve["component"])):
            assert cv.version is not None
            hit = in_ranges(cv.version, cve.get("affected", []))
            if hit is None:
                continue
            fixed = f"; fixed in {hit['fixed']}" if hit.get("fixed") else ""
            trig = _trigger(cve.get("trigger"), ctx)
            what = f"{label(cv)} is affected by {cve['id']} ({cve['title']}, {cve.get('severity', '?')}){fixed}"
            note = f" ({cve['note']})" if cve.get("note") else ""
            if trig is True:
                needs = f"; {_TRIGGER_TEXT[cve['trigger']]} is present" if cve.get("trigger") else ""
                yield Violation(cv.path, what + needs + note, subcode=str(cve["id"]))
            elif trig is None:
                yield Violation(
                    cv.path,
                    f"{what}; it needs {_TRIGGER_TEXT[cve['trigger']]}, which cannot be checked "
                    "without the cluster's objects",
                    severity=Severity.INFO,
                    subcode="warn",
                )


# -- deprecated APIs ---------------------------------------------------------------------------------------


def _target(ctx: Context) -> Version:
    v = Version.parse(ctx.param("target_version")) if ctx.param("target_version") else None
    if v is None:
        newest = release_table().newest
        v = Version.parse(newest.minor)
    assert v is not None
    return v


@rule(
    id="KF-VER-006",
    slug="deprecated-api-version",
    title="Deprecated or removed API version used",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    params={"target_version": ""},
    rationale="An object in an apiVersion the target release no longer serves cannot be applied after the "
    "upgrade (deploys fail, or Helm cannot upgrade its release); deprecated versions will be removed.",
    remediation="Move the object to the replacement apiVersion (kubectl convert or the migration guide), before upgrading.",
    refs={
        "trivy": "KSV-0107",
        "kube-score": "stable-version",
        "kube-linter": "no-extensions-v1beta",
        "kubeaudit": "deprecatedapis/DeprecatedAPIUsed",
        "k8s": "https://kubernetes.io/docs/reference/using-api/deprecation-guide/",
    },
)
def deprecated_api(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    e = deprecated_apis().get((obj.api_version, obj.kind))
    if e is None:
        return
    target = _target(ctx)
    repl = f"; use {e['replacement']}" if e.get("replacement") else " (no replacement)"
    removed = Version.parse(e.get("removed")) if e.get("removed") else None
    deprecated = Version.parse(e.get("deprecated")) if e.get("deprecated") else None
    if removed is not None and target >= removed:
        yield Violation(
            ("apiVersion",),
            f"{obj.api_version} {obj.kind} is not served since Kubernetes {e['removed']} "
            f"(target {target.minor_key}){repl}",
            subcode="removed",
        )
    elif deprecated is not None and target >= deprecated:
        when = f", removed in {e['removed']}" if e.get("removed") else ""
        yield Violation(
            ("apiVersion",),
            f"{obj.api_version} {obj.kind} is deprecated since Kubernetes {e['deprecated']}{when}{repl}",
            severity=Severity.INFO,
            subcode="deprecated",
        )


# -- add-ons ------------------------------------------------------------------------------------------------


@rule(
    id="KF-VER-007",
    slug="addon-end-of-life",
    title="Add-on at end-of-life",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    params=TODAY,
    rationale="A retired add-on gets no security fixes; ingress-nginx sits at the edge of the cluster and "
    "has had critical CVEs (IngressNightmare), so running it unmaintained is an open door.",
    remediation="Migrate to a maintained replacement (for ingress-nginx: a Gateway API implementation or another Ingress controller).",
    refs={"kubescape": "C-0292", "nsa": NSA, "k8s": "https://kubernetes.io/blog/2025/11/11/ingress-nginx-retirement/"},
)
def addon_eol(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    img = c.image
    if not isinstance(img, str) or "ingress" not in img:
        return
    name = parse_image(img).name
    today = today_of(ctx.param("today"))
    for addon in addon_table():
        if name in addon.get("images", []):
            eol = parse_date(addon.get("end_of_life"))
            if eol is not None and eol <= today:
                yield Violation(
                    c.at("image"),
                    f"{c.label} runs {addon['name']} ({img}), retired on {eol}: no security "
                    f"fixes since; migrate to {addon.get('replacement', 'a maintained alternative')}",
                )


RULES: list[Rule] = [
    kubernetes_eol,
    kubernetes_near_eol,
    kubelet_skew,
    control_plane_skew,
    kubernetes_cve,
    deprecated_api,
    addon_eol,
]
