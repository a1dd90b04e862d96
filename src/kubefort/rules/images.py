"""IMG rules: image references (tags, digests, pull policy, registries) and known risky images."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..engine.fixes import FixAt, SetField, fix
from ..engine.rule import Context, NotEvaluated, NotInScope, Scope, Severity, Violation, rule
from ..model.images import ImageRef, normalise_registry, parse_image
from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject, Path
from ..model.workloads import ContainerSet, ContainerView, PodSpecView, pod_spec

NSA = "NSA/CISA: image hygiene / scanning"

DEFAULT_BLOCKED_REGISTRIES = ["docker.io", "ghcr.io", "quay.io", "public.ecr.aws"]


# --------------------------------------------------------------------------------------------------
# helpers


def image_ref(c: ContainerView) -> ImageRef | None:
    """The parsed image of a container, or None when ``image`` is missing, empty or not a string
    (KF-IMG-001 reports those as ``invalid_image``; the other rules have nothing to judge)."""
    obj = c.pod.obj
    if obj.invalid is not None:  # reads may raise while the object is judged: no memo
        return _image_ref(c)
    key = (_IMAGE_REF, c.pod.path, c.list_name, c.index)
    memo = obj.memo
    if key in memo:
        return memo[key]  # type: ignore[no-any-return]
    ref = memo[key] = _image_ref(c)
    return ref


#: key of a container's parsed image in its object's memo: a dozen rules read it, parsed once per object
_IMAGE_REF = object()


def _image_ref(c: ContainerView) -> ImageRef | None:
    img = c.image
    if not isinstance(img, str) or not img.strip():
        return None
    return parse_image(img)


def mutable_tag_reason(ref: ImageRef) -> str | None:
    """Why the image fails KF-IMG-001's tag condition (no valid digest, and no tag or ``latest``)."""
    if ref.has_valid_digest:
        return None
    malformed = " and its digest is malformed" if ref.digest is not None else ""
    if not ref.tag:
        return f"has no tag{malformed}"
    if ref.tag.lower() == "latest":
        return f'uses the mutable tag "{ref.tag}"{malformed}'
    return None


def effective_pull_policy(c: ContainerView, ref: ImageRef | None) -> tuple[Any, bool]:
    """(policy, explicit). Kubernetes defaulting (``SetDefaults_Container``): ``Always`` when the
    tag is ``latest`` (exact, case-sensitive) or when there is neither tag nor digest, otherwise
    ``IfNotPresent``. An empty string is unset, as for the API server."""
    p = c.raw.get("imagePullPolicy")
    if p is not None and p != "":
        return p, True
    if ref is None:
        return None, False
    if ref.tag == "latest" or (not ref.tag and ref.digest is None):
        return "Always", False
    return "IfNotPresent", False


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, dict):
        return list(value)
    raise ValueError(f"expected a list of strings, got {type(value).__name__}")


def registry_prefixes(value: Any) -> list[str]:
    """Normalise an allow/block list of registry hosts or ``host/path`` prefixes: the host is
    compared case-insensitively (Docker Hub aliases become ``docker.io``), a scheme and trailing
    ``/`` are dropped. The first component is always the host (``gcr.io/acme``, ``docker.io/bitnami``)."""
    out: list[str] = []
    for entry in _as_list(value):
        if not isinstance(entry, str):
            raise ValueError(f"registry list entries must be strings, got {entry!r}")
        e = entry.strip()
        for scheme in ("https://", "http://"):
            if e.lower().startswith(scheme):
                e = e[len(scheme) :]
        e = e.strip("/")
        if not e:
            continue
        host, sep, path = e.partition("/")
        out.append(normalise_registry(host) + (sep + path if path else ""))
    return out


def covered(ref: ImageRef, prefixes: Iterable[str]) -> str | None:
    """The first prefix that covers ``registry/repository`` on whole path components, or None."""
    name = ref.name
    for p in prefixes:
        if name == p or name.startswith(p + "/"):
            return p
    return None


def _repo_names(value: Any) -> list[str]:
    """Repositories named like images (``nginx`` is ``docker.io/library/nginx``); tag/digest dropped."""
    out = []
    for entry in _as_list(value):
        if not isinstance(entry, str):
            raise ValueError(f"repository entries must be strings, got {entry!r}")
        if entry.strip():
            out.append(parse_image(entry.strip().rstrip("/")).name)
    return out


def _required_tags(value: Any) -> dict[str, set[str]]:
    """``required_tags``: a list of image references with their required tag (``nginx:1.25``) or a
    mapping of repository to tag or list of tags (``{nginx: ["1.25", "1.26"]}``)."""
    out: dict[str, set[str]] = {}
    if not value:
        return out
    if isinstance(value, dict):
        for repo, tags in value.items():
            if not isinstance(repo, str):
                raise ValueError(f"required_tags: repository {repo!r} must be a string")
            name = parse_image(repo).name
            for t in _as_list(tags):
                out.setdefault(name, set()).add(str(t))
        return out
    for entry in _as_list(value):
        if not isinstance(entry, str):
            raise ValueError(f"required_tags: entry {entry!r} must be a string such as 'nginx:1.25'")
        ref = parse_image(entry)
        if not ref.tag:
            raise ValueError(f"required_tags: entry {entry!r} names no tag (write 'repository:tag')")
        out.setdefault(ref.name, set()).add(ref.tag)
    return out


def _components(repository: str) -> list[str]:
    return [p for p in repository.split("/") if p]


def _label_path(pod: PodSpecView, key: str) -> Path:
    return pod.meta_path + ("labels", key)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


# --------------------------------------------------------------------------------------------------
# KF-IMG-001 .. 004: tags, digests and pull policy


@rule(
    id="KF-IMG-001",
    slug="image-mutable-tag",
    title="Image uses a mutable or missing tag",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    params={"required_tags": None},
    rationale="Without a tag or with latest, what runs changes whenever someone pushes, so deployments are "
    "neither reproducible nor reviewable.",
    remediation="Pin the image to a specific version tag or, better, to a digest (image@sha256:...).",
    refs={
        "checkov": "CKV_K8S_14",
        "trivy": "KSV-0013",
        "polaris": "tagNotSpecified",
        "kube-score": "container-image-tag",
        "kube-linter": "latest-tag",
        "kubeaudit": ("image/ImageTagMissing", "image/ImageTagIncorrect"),
        "nsa": NSA,
    },
)
def image_mutable_tag(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    img = c.image
    ref = image_ref(c)
    if ref is None:
        where = c.at("image") if "image" in c.raw else c.path
        what = (
            "has no image"
            if img is None
            else ("has an empty image" if isinstance(img, str) else f"has a non-string image ({type(img).__name__})")
        )
        yield Violation(where, f"{c.label} {what}", subcode="invalid_image")
        return
    reason = mutable_tag_reason(ref)
    if reason is not None:
        yield Violation(c.at("image"), f'{c.label} image "{ref.raw.strip()}" {reason}')
    required = ctx.derived(_required_tags, "required_tags")
    tags = required.get(ref.name)
    if tags and ref.tag and ref.tag not in tags and not ref.has_valid_digest:  # a digest always passes
        want = ", ".join(sorted(tags))
        yield Violation(
            c.at("image"),
            f'{c.label} image "{ref.raw.strip()}" has tag "{ref.tag}", required: {want}',
            subcode="tag_incorrect",
        )


@rule(
    id="KF-IMG-002",
    slug="image-not-pinned-by-digest",
    title="Image not pinned by digest",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    params={"digest_exempt_repos": []},
    rationale="A tag can be moved to other content at any time; only a digest names exactly the image that "
    "was reviewed and scanned.",
    remediation="Reference the image by digest (repository:tag@sha256:<64 hex>), e.g. with your CD tool's "
    "image resolution.",
    refs={"kubescape": "C-0306", "checkov": "CKV_K8S_43", "nsa": NSA},
)
def image_not_pinned_by_digest(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    ref = image_ref(c)
    if ref is None or ref.has_valid_digest:
        return
    if covered(ref, ctx.derived(_repo_names, "digest_exempt_repos")):
        return
    if ref.digest is not None:
        msg = f'{c.label} image "{ref.raw.strip()}" has a malformed digest'
    else:
        msg = f'{c.label} image "{ref.raw.strip()}" is not pinned by digest'
    yield Violation(c.at("image"), msg)


@rule(
    id="KF-IMG-003",
    slug="image-pull-policy-not-always",
    title="Image pull policy is not Always",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    params={"always_pull_images_plugin": False},
    rationale="With IfNotPresent or Never a pod can start from an image already cached on the node, without "
    "the registry checking its imagePullSecrets, and may run stale content.",
    remediation="Set imagePullPolicy: Always, or enable the AlwaysPullImages admission plugin cluster-wide.",
    refs={
        "checkov": "CKV_K8S_15",
        "polaris": "pullPolicyNotAlways",
        "kube-score": "container-image-pull-policy",
        "nsa": NSA,
    },
    fix=fix(FixAt.CONTAINER, SetField(("imagePullPolicy",), "Always")),
)
def image_pull_policy_not_always(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    """A digest names immutable content: with it, IfNotPresent runs exactly the image named, so only
    tags (which can move) are judged. Whether a node may reuse a private image without the pod's pull
    credentials is a node setting (AlwaysPullImages, KF-CP-013), not the pod's."""
    ref = image_ref(c)
    if ref is not None and ref.has_valid_digest:
        return
    policy, explicit = effective_pull_policy(c, ref)
    if policy is None or policy == "Always":
        return
    sev = Severity.INFO if ctx.param("always_pull_images_plugin") is True else None
    if explicit:
        yield Violation(c.at("imagePullPolicy"), f'{c.label} has imagePullPolicy "{policy}"', severity=sev)
    else:
        image = ref.raw.strip() if ref is not None else ""
        yield Violation(
            c.path,
            f'{c.label} has no imagePullPolicy; for image "{image}" Kubernetes defaults it to "{policy}"',
            severity=sev,
        )


@rule(
    id="KF-IMG-004",
    slug="mutable-tag-cached-pull-policy",
    title="Mutable tag combined with a cached pull policy",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    rationale="With a mutable tag and IfNotPresent or Never, each node runs whatever it cached under that tag, "
    "so replicas can run different, stale images.",
    remediation="Pin the image to a version tag or digest, or set imagePullPolicy: Always.",
    refs={"kubescape": "C-0075", "nsa": NSA},
)
def mutable_tag_cached_pull_policy(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    policy = c.raw.get("imagePullPolicy")
    if policy not in ("IfNotPresent", "Never"):
        return
    ref = image_ref(c)
    if ref is None:
        return
    reason = mutable_tag_reason(ref)
    if reason is not None:
        yield Violation(
            c.at("imagePullPolicy"), f'{c.label} has imagePullPolicy "{policy}" and image "{ref.raw.strip()}" {reason}'
        )


# --------------------------------------------------------------------------------------------------
# KF-IMG-005 .. 007: registries


@rule(
    id="KF-IMG-005",
    slug="image-registry-not-allowed",
    title="Image from a registry outside the allow-list",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    params={"allowed_registries": []},
    requires="allowed_registries",  # nothing to check until allowed_registries is configured
    rationale="Images from registries you do not control may be tampered with or unscanned; an allow-list keeps "
    "workloads on vetted sources.",
    remediation="Mirror the image into an allowed registry and reference it there, or extend allowed_registries.",
    refs={
        "kubescape": "C-0078",
        "trivy": ("KSV-0125", "KSV-0032", "KSV-0033", "KSV-0035"),
        "nsa": NSA,
    },
)
def image_registry_not_allowed(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    allowed = ctx.derived(registry_prefixes, "allowed_registries")
    if not allowed:
        return
    ref = image_ref(c)
    if ref is None or covered(ref, allowed):
        return
    yield Violation(
        c.at("image"),
        f'{c.label} image "{ref.raw.strip()}" ({ref.name}) is not from an allowed registry ({", ".join(allowed)})',
    )


@rule(
    id="KF-IMG-006",
    slug="image-public-registry",
    title="Image from a public or blocked registry",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    params={"blocked_registries": list(DEFAULT_BLOCKED_REGISTRIES), "allowed_registries": []},
    rationale="Public registries let anyone publish look-alike or compromised images, and pulls can be "
    "rate-limited or disappear.",
    remediation="Mirror the image into your own registry, or add the exact path to allowed_registries.",
    refs={"kubescape": "C-0001", "trivy": "KSV-0034", "nsa": NSA},
)
def image_public_registry(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    ref = image_ref(c)
    if ref is None:
        return
    if covered(ref, ctx.derived(registry_prefixes, "allowed_registries")):
        return
    hit = covered(ref, ctx.derived(registry_prefixes, "blocked_registries"))
    if hit is None:
        return
    implicit = " (implicit Docker Hub)" if ref.registry == "docker.io" and not ref.explicit_registry else ""
    yield Violation(
        c.at("image"), f'{c.label} image "{ref.raw.strip()}" comes from the blocked registry {hit}{implicit}'
    )


@rule(
    id="KF-IMG-007",
    slug="image-frozen-k8s-gcr-io",
    title="Image from the frozen k8s.gcr.io registry",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    rationale="k8s.gcr.io is frozen: it gets no new images or security fixes and may go away, breaking pulls.",
    remediation="Pull the image from registry.k8s.io instead (same path, e.g. registry.k8s.io/pause:3.10).",
    refs={"kubescape": "C-0253", "nsa": NSA},
)
def image_frozen_k8s_gcr_io(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    ref = image_ref(c)
    if ref is None:
        return
    reg = ref.registry
    first = _components(ref.repository)[:1]
    frozen = reg == "k8s.gcr.io" or (
        (reg == "gcr.io" or reg.endswith(".gcr.io")) and first in (["google-containers"], ["google_containers"])
    )
    if frozen:
        yield Violation(
            c.at("image"),
            f'{c.label} image "{ref.raw.strip()}" comes from the frozen registry '
            f"{reg}{'' if reg == 'k8s.gcr.io' else '/' + first[0]}; use registry.k8s.io",
        )


# --------------------------------------------------------------------------------------------------
# KF-IMG-008 .. 010: known risky components


TILLER_PORT = 44134
_TILLER_LABELS = {"app": "helm", "name": "tiller"}


def _has_labels(labels: Mapping[str, Any], want: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in want.items())


def _tiller_violations(pod: PodSpecView) -> list[Violation]:
    out = []
    for c in pod.containers(ContainerSet.ALL):
        ref = image_ref(c)
        if ref is not None and _components(ref.repository)[-1:] == ["tiller"]:
            out.append(Violation(c.at("image"), f'{c.label} runs Helm v2 Tiller ("{ref.raw.strip()}")'))
    if not out and _has_labels(pod.labels, _TILLER_LABELS):
        out.append(Violation(pod.meta_path + ("labels",), "pod labels app=helm, name=tiller identify Helm v2 Tiller"))
    return out


def _tiller_workloads(inv: Inventory) -> list[tuple[K8sObject, Mapping[str, Any]]]:
    """Every Tiller workload with its pod labels. Built once per inventory and kept by it
    (``Inventory.cached``): the rule runs for every Service, which would otherwise rescan every workload."""
    out = []
    for w in inv.of_kind(*sorted(WORKLOAD_KINDS)):
        pod = pod_spec(w)
        if pod is not None and _tiller_violations(pod):
            out.append((w, pod.labels))
    return out


@rule(
    id="KF-IMG-008",
    slug="helm-tiller",
    title="Helm v2 Tiller deployed",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=WORKLOAD_KINDS | {"Service"},
    cross_object_kinds={"Service"},  # a Service is matched against the Tiller workloads of its namespace
    rationale="Tiller (Helm v2, end of life) serves unauthenticated gRPC on port 44134 and installs anything "
    "with its usually cluster-admin ServiceAccount: any pod that reaches it owns the cluster.",
    remediation="Migrate the releases to Helm 3 (helm-2to3) and delete the Tiller Deployment and Service.",
    refs={"checkov": ("CKV_K8S_34", "CKV_K8S_44", "CKV_K8S_45"), "trivy": "KSV-0102", "nsa": NSA},
)
def helm_tiller(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind != "Service":
        pod = pod_spec(obj)
        if pod is not None:
            yield from _tiller_violations(pod)
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    selector = _str_map(spec.get("selector"))
    if selector and _has_labels(selector, _TILLER_LABELS):
        yield Violation(("spec", "selector"), "Service selects Helm v2 Tiller pods (app=helm, name=tiller)")
        return
    if selector and obj.namespace:
        for w, labels in ctx.inventory.cached(_tiller_workloads, lambda: _tiller_workloads(ctx.inventory)):
            if w.namespace == obj.namespace and _has_labels(labels, selector):
                yield Violation(("spec", "selector"), f'Service selects the pods of Helm v2 Tiller {w.kind} "{w.name}"')
                return
    if _has_labels(obj.labels, _TILLER_LABELS):
        ports = spec.get("ports")
        for i, p in enumerate(ports if isinstance(ports, list) else []):
            if not isinstance(p, dict):
                continue
            for field in ("port", "targetPort"):
                if p.get(field) == TILLER_PORT:
                    yield Violation(
                        ("spec", "ports", i, field),
                        f"Service labelled app=helm, name=tiller exposes the Tiller port {TILLER_PORT}",
                    )
                    return
    if (
        selector
        and obj.namespace
        and not ctx.inventory.live
        and not ctx.inventory.pods_selected_by_service(obj.namespace, selector)
    ):
        # its pods are not in the input: whether they are Tiller's cannot be told from the Service alone
        raise NotEvaluated("the Service selects no workload of the input, so what it exposes is unknown")


_DASHBOARD_LABELS = (("k8s-app", "kubernetes-dashboard"), ("app.kubernetes.io/name", "kubernetes-dashboard"))
# kubernetes-dashboard, and the per-architecture images of Dashboard v1 (k8s.gcr.io/kubernetes-dashboard-amd64)
_DASHBOARD_LEGACY = re.compile(r"^kubernetes-dashboard(?:-(?:amd64|arm64|arm|ppc64le|s390x|386))?$")
# kubernetesui/dashboard (v2) and the v3 modules kubernetesui/dashboard-{api,web,auth}
_DASHBOARD_UI = frozenset({"dashboard", "dashboard-api", "dashboard-web", "dashboard-auth"})
_BINDING_KINDS = frozenset({"RoleBinding", "ClusterRoleBinding"})


def is_dashboard_image(ref: ImageRef) -> bool:
    comps = _components(ref.repository)
    if not comps:
        return False
    if _DASHBOARD_LEGACY.match(comps[-1]):
        return True
    return len(comps) >= 2 and comps[-2] == "kubernetesui" and comps[-1] in _DASHBOARD_UI


def _dashboard_violations(obj: K8sObject, pod: PodSpecView) -> list[Violation]:
    out = []
    for c in pod.containers(ContainerSet.ALL):
        ref = image_ref(c)
        if ref is not None and is_dashboard_image(ref):
            out.append(Violation(c.at("image"), f'{c.label} runs the Kubernetes Dashboard ("{ref.raw.strip()}")'))
    if out:
        return out
    for labels, base in ((pod.labels, pod.meta_path), (obj.labels, ("metadata",))):
        for k, v in _DASHBOARD_LABELS:
            if labels.get(k) == v:
                return [Violation(base + ("labels", k), f"label {k}={v} identifies the Kubernetes Dashboard")]
    return out


def _service_account(pod: PodSpecView) -> str:
    for f in ("serviceAccountName", "serviceAccount"):
        v = pod.spec.get(f)
        if isinstance(v, str) and v:
            return v
    return "default"


def _dashboard_accounts(inv: Inventory) -> set[tuple[str, str]]:
    """(namespace, ServiceAccount) of every Dashboard workload; kept by the inventory like
    :func:`_tiller_workloads` (the rule runs for every binding)."""
    out = set()
    for w in inv.of_kind(*sorted(WORKLOAD_KINDS)):
        pod = pod_spec(w)
        if pod is not None and w.namespace and _dashboard_violations(w, pod):
            out.add((w.namespace, _service_account(pod)))
    return out


def _subject_matches(subject: Mapping[str, Any], binding: K8sObject, ns: str, sa: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        sns = subject.get("namespace") or (binding.namespace if binding.kind == "RoleBinding" else None)
        return name == sa and sns == ns
    if kind == "User":
        return name == f"system:serviceaccount:{ns}:{sa}"
    if kind == "Group":
        return name in ("system:serviceaccounts", f"system:serviceaccounts:{ns}")
    return False


@rule(
    id="KF-IMG-009",
    slug="kubernetes-dashboard",
    title="Kubernetes Dashboard deployed",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=WORKLOAD_KINDS | _BINDING_KINDS,
    cross_object_kinds=_BINDING_KINDS,  # bindings are matched against the Dashboard workloads' ServiceAccounts
    rationale="The Dashboard is a web UI that acts with its ServiceAccount's rights; exposed or over-privileged, "
    "it has been a classic way into clusters.",
    remediation="Remove the Dashboard, or keep it internal behind authentication with a least-privilege "
    "ServiceAccount.",
    refs={"kubescape": "C-0014", "checkov": "CKV_K8S_33", "nsa": NSA},
)
def kubernetes_dashboard(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind not in _BINDING_KINDS:
        pod = pod_spec(obj)
        if pod is not None:
            yield from _dashboard_violations(obj, pod)
        return
    subjects = obj.get("subjects")
    if not isinstance(subjects, list) or not subjects:
        return
    accounts = ctx.inventory.cached(_dashboard_accounts, lambda: _dashboard_accounts(ctx.inventory))
    if not accounts:
        raise NotInScope  # bindings are about the Dashboard's ServiceAccounts: the input runs no Dashboard
    role = obj.get("roleRef")
    role_s = f'{role.get("kind")} "{role.get("name")}"' if isinstance(role, dict) else "a role"
    for i, s in enumerate(subjects):
        if not isinstance(s, dict):
            continue
        for ns, sa in sorted(accounts):
            if _subject_matches(s, obj, ns, sa):
                yield Violation(
                    ("subjects", i),
                    f'{obj.kind} grants {role_s} to the Kubernetes Dashboard\'s ServiceAccount "{ns}/{sa}"',
                )
                break


_HOOK_ENVS = frozenset({"GITSYNC_EXECHOOK_COMMAND", "GIT_SYNC_EXECHOOK_COMMAND", "GIT_SYNC_HOOK_COMMAND"})
_REPO_ENVS = frozenset({"GITSYNC_REPO", "GIT_SYNC_REPO"})
_HOOK_FLAG = re.compile(r"(?:^|\s)(?P<flag>--?(?:exechook-command|sync-hook-command))(?:=(?P<eq>\S*)|\s+(?P<sp>\S+)|$)")
_REPO_FLAG = re.compile(r"(?:^|\s)(?P<flag>--?repo)(?:=(?P<eq>\S*)|\s+(?P<sp>\S+)|$)")
_VAR_REF = re.compile(r"(?<!\$)\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def _external_ref(env_item: Mapping[str, Any]) -> str | None:
    vf = env_item.get("valueFrom")
    if not isinstance(vf, dict):
        return None
    for key, what in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        r = vf.get(key)
        if isinstance(r, dict):
            return f'{what} "{r.get("name", "?")}"'
    return None


def _flag_value(items: list[Any], i: int, m: re.Match[str]) -> str | None:
    """Value of a flag matched in ``items[i]``: ``--f=v``, ``--f v`` inside one string, or the next item."""
    if m.group("eq") is not None:
        return m.group("eq")
    if m.group("sp") is not None:
        return m.group("sp")
    nxt = items[i + 1] if i + 1 < len(items) else None
    return nxt if isinstance(nxt, str) else None


@rule(
    id="KF-IMG-010",
    slug="git-sync-exec-hook",
    title="git-sync sidecar allows arbitrary repository/hook configuration",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    rationale="A git-sync exec hook runs a command from the synced checkout, and a repository taken from a "
    "ConfigMap or Secret can be repointed: whoever controls either runs code in the pod.",
    remediation="Drop the exec hook (use a webhook to a trusted endpoint) and set the repository as a literal value.",
    refs={"checkov": "CKV_K8S_159", "nsa": NSA},
)
def git_sync_exec_hook(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    ref = image_ref(c)
    if ref is None or not ref.repository.endswith("git-sync"):
        return
    external: dict[str, str] = {}  # env var -> the ConfigMap/Secret it comes from
    env = c.raw.get("env")
    for i, e in enumerate(env if isinstance(env, list) else []):
        if not isinstance(e, dict):
            continue
        name = e.get("name")
        src = _external_ref(e)
        if isinstance(name, str) and src:
            external[name] = src
        is_set = (isinstance(e.get("value"), str) and e["value"] != "") or isinstance(e.get("valueFrom"), dict)
        if name in _HOOK_ENVS and is_set:
            yield Violation(c.at("env", i), f"{c.label} runs git-sync with an exec hook ({name})")
        elif name in _REPO_ENVS and src:
            yield Violation(
                c.at("env", i, "valueFrom"), f"{c.label} runs git-sync with its repository ({name}) taken from {src}"
            )
    for list_name in ("command", "args"):
        items = c.raw.get(list_name)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, str):
                continue
            m = _HOOK_FLAG.search(item)
            if m and _flag_value(items, i, m):
                yield Violation(
                    c.at(list_name, i), f"{c.label} runs git-sync with an exec hook ({m.group('flag')} in {list_name})"
                )
                continue
            m = _REPO_FLAG.search(item)
            if m:
                value = _flag_value(items, i, m) or ""
                refs = [v for v in _VAR_REF.findall(value) if v in external]
                if refs:
                    yield Violation(
                        c.at(list_name, i),
                        f"{c.label} runs git-sync with --repo taken from {external[refs[0]]} (through $({refs[0]}))",
                    )


RULES = [
    image_mutable_tag,
    image_not_pinned_by_digest,
    image_pull_policy_not_always,
    mutable_tag_cached_pull_policy,
    image_registry_not_allowed,
    image_public_registry,
    image_frozen_k8s_gcr_io,
    helm_tiller,
    kubernetes_dashboard,
    git_sync_exec_hook,
]
