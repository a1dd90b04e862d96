"""SEC rules on manifests: secrets in env vars, ConfigMaps, annotations, Secret objects and command lines.

Detection lives in :mod:`kubefort.analysis.secretscan` (shared with the live-cluster scan and the
admission webhook). Messages name the env var, key, annotation or flag and the detector that fired;
they never contain the value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..analysis import secretscan as ss
from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.kinds import POD_SPEC_PATHS
from ..model.objects import K8sObject, Path, get_path, is_redacted
from ..model.workloads import ContainerView

NSA = "NSA/CISA: secrets"
ALLOW_PARAMS: dict[str, Any] = {"sensitive_names_allowed": [], "sensitive_values_allowed": []}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_CONTAINER_WORD = {
    "initContainers": "init container",
    "containers": "container",
    "ephemeralContainers": "ephemeral container",
}


def _allow(ctx: Context) -> ss.Allowlist:
    allow: ss.Allowlist = ctx.derived(ss.Allowlist.of, "sensitive_names_allowed", "sensitive_values_allowed")
    return allow


def _items(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield i, item


def _env_name(e: Mapping[str, Any], i: int) -> str:
    n = e.get("name")
    return n if isinstance(n, str) and n else f"#{i}"


# --------------------------------------------------------------------------------------------------


@rule(
    id="KF-SEC-001",
    slug="secret-in-env-literal",
    title="Secret literal in environment variable",
    severity=Severity.HIGH,
    scope=Scope.CONTAINER,
    params=ALLOW_PARAMS,
    rationale="A secret written into the pod spec is stored in clear in Git, in etcd and in every copy of the "
    "manifest, readable by anyone who can read the workload.",
    remediation="Move the value into a Secret and reference it with valueFrom.secretKeyRef (or mount it as a file).",
    refs={
        "kubescape": ("C-0012", "C-0259"),
        "polaris": "sensitiveContainerEnvVar",
        "kube-linter": "env-var-secret",
        "nsa": NSA,
    },
)
def secret_in_env_literal(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    allow = _allow(ctx)
    for i, e in _items(c.raw.get("env")):
        if "value" not in e or e.get("valueFrom") is not None:
            continue
        name = _env_name(e, i)
        reasons = ss.env_literal_reasons(name, e.get("value"), allow)
        if reasons:
            yield Violation(
                c.at("env", i, "value"),
                f'env var "{name}" of {c.label} holds a literal secret ({ss.describe(reasons)})',
            )


@rule(
    id="KF-SEC-002",
    slug="secret-as-env-var",
    title="Secret consumed as environment variable",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    rationale="Environment variables leak through logs, crash dumps, /proc and child processes; a secret "
    "mounted as a file is not inherited and can be rotated without a restart.",
    remediation="Mount the Secret as a volume (readOnly) and have the application read the file.",
    refs={
        "cis": "5.4.1",
        "kubescape": "C-0207",
        "checkov": "CKV_K8S_35",
        "kube-linter": "read-secret-from-env-var",
        "nsa": NSA,
    },
)
def secret_as_env_var(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    for i, e in _items(c.raw.get("env")):
        vf = e.get("valueFrom")
        ref = vf.get("secretKeyRef") if isinstance(vf, dict) else None
        if isinstance(ref, dict):
            yield Violation(
                c.at("env", i, "valueFrom", "secretKeyRef"),
                f'env var "{_env_name(e, i)}" of {c.label} reads key "{ref.get("key", "?")}" '
                f'of Secret "{ref.get("name", "?")}"',
            )
    for i, e in _items(c.raw.get("envFrom")):
        ref = e.get("secretRef")
        if isinstance(ref, dict):
            yield Violation(
                c.at("envFrom", i, "secretRef"),
                f'{c.label} imports every key of Secret "{ref.get("name", "?")}" as env vars (envFrom)',
            )


@rule(
    id="KF-SEC-003",
    slug="configmap-credentials",
    title="Credentials stored in a ConfigMap",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=["ConfigMap"],
    params=ALLOW_PARAMS,
    rationale="ConfigMaps are not meant for secrets: they are readable by far more subjects than Secrets, "
    "are not encrypted at rest and show up in logs, dashboards and support bundles.",
    remediation="Move the credential into a Secret (or an external secret store) and keep only non-secret settings in the ConfigMap.",
    refs={
        "kubescape": "C-0012",
        "trivy": ("KSV-0109", "KSV-01010"),
        "polaris": "sensitiveConfigmapContent",
        "nsa": NSA,
    },
)
def configmap_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    allow = _allow(ctx)
    for field in ("data", "binaryData"):
        entries = obj.get(field)
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            key = str(key)
            text = ss.scalar_text(value)
            if text is None or not text.strip():
                continue
            content = ss.decode_base64_text(text) if field == "binaryData" else text
            reasons: list[str] = []
            if (
                ss.is_sensitive_name(key)
                and not allow.name_allowed(key)
                and not allow.value_allowed(content or text)
                and (content is None or ss.is_literal(content))
            ):
                reasons.append("sensitive key name")
            if content is not None:
                reasons.extend(ss.content_reasons(content, allow))
                if "\n" not in content.strip() and not any(r for r in reasons if r != "sensitive key name"):
                    # a single value (ConfigMaps consumed with envFrom): high entropy under a weak-hint key
                    reasons.extend(r for r in ss.detect_value(content, name=key) if r not in reasons)
            where = "key" if field == "data" else "binaryData key"
            if reasons:
                yield Violation((field, key), f'ConfigMap {where} "{key}" holds credentials ({"; ".join(reasons)})')
            pii = ss.find_pii(content) if content is not None else ()
            if pii:
                yield Violation(
                    (field, key),
                    f'ConfigMap {where} "{key}" contains personal data ({", ".join(pii)})',
                    severity=Severity.INFO,
                    subcode="pii",
                )


def _annotation_sets(obj: K8sObject) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    md = obj.get("metadata", "annotations")
    if isinstance(md, dict):
        yield ("metadata", "annotations"), md
    paths = POD_SPEC_PATHS.get(obj.kind)
    if paths is not None and paths[0] != ("metadata",):
        tpl = get_path(obj.raw, paths[0] + ("annotations",))
        if isinstance(tpl, dict):
            yield paths[0] + ("annotations",), tpl


def _last_applied_reasons(obj: K8sObject, text: str, allow: ss.Allowlist) -> list[str]:
    applied = ss.parse_json_object(text)
    if applied is None:
        return []  # not JSON: nothing to judge
    reasons: list[str] = []
    if obj.kind == "Secret":
        keys = [f"{field}.{key}" for field, key in ss.secret_value_keys(applied, allow)]
        if keys:
            reasons.append(f"repeats the Secret's values in clear JSON ({ss.quote_names(keys)})")
    elif obj.kind == "ConfigMap":
        data = applied.get("data")
        bad = (
            [str(k) for k, v in data.items() if ss.env_literal_reasons(str(k), v, allow)]
            if isinstance(data, dict)
            else []
        )
        if bad:
            reasons.append(f"repeats ConfigMap keys holding literal secrets ({ss.quote_names(bad)})")
    elif obj.kind in POD_SPEC_PATHS:
        spec = get_path(applied, POD_SPEC_PATHS[obj.kind][1])
        if isinstance(spec, dict):
            for list_name in _CONTAINER_LISTS:
                for ci, ctr in _items(spec.get(list_name)):
                    cname = ctr.get("name") if isinstance(ctr.get("name"), str) else f"#{ci}"
                    for i, e in _items(ctr.get("env")):
                        if "value" not in e or e.get("valueFrom") is not None:
                            continue
                        why = ss.env_literal_reasons(_env_name(e, i), e.get("value"), allow)
                        if why:
                            reasons.append(
                                f'repeats env var "{_env_name(e, i)}" of {_CONTAINER_WORD[list_name]} '
                                f'"{cname}" holding a literal secret ({ss.describe(why)})'
                            )
    return reasons


@rule(
    id="KF-SEC-004",
    slug="secret-in-annotations",
    title="Secret data leaked in annotations",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    params=ALLOW_PARAMS,
    rationale="Annotations are readable by anyone who can list the object, are copied by tools and backups, "
    "and kubectl apply stores the whole applied object, Secret data included, in clear JSON.",
    remediation="Remove the credential from the annotation; create Secrets with kubectl create/replace, "
    "server-side apply or an external secret operator instead of client-side kubectl apply.",
    refs={"nsa": NSA},
)
def secret_in_annotations(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == "Secret" and is_redacted(obj.annotations.get(ss.LAST_APPLIED)):
        # a cluster scan keeps no Secret values, and kubectl apply repeats them in this annotation
        raise NotEvaluated("the Secret's values were not read from the cluster (scan with --secret-values)")
    allow = _allow(ctx)
    for prefix, notes in _annotation_sets(obj):
        for key, value in notes.items():
            if not isinstance(value, str) or not value.strip():
                continue
            key = str(key)
            reasons: list[str] = []
            if key == ss.LAST_APPLIED and prefix == ("metadata", "annotations"):
                reasons.extend(_last_applied_reasons(obj, value, allow))
            if not allow.value_allowed(value):
                labels = ss.credential_labels(value)
                if labels:
                    reasons.append(f"contains a credential ({ss.describe(labels)})")
            if reasons:
                where = "annotation" if prefix == ("metadata", "annotations") else "pod template annotation"
                yield Violation(prefix + (key,), f'{where} "{key}" {"; ".join(reasons)}')


@rule(
    id="KF-SEC-005",
    slug="secret-committed-in-manifest",
    title="Secret object committed in manifests",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=["Secret", "SealedSecret", "ExternalSecret"],
    params={"sensitive_values_allowed": []},
    modes=["manifest"],  # live Secrets are not "committed"
    rationale="A Secret manifest in a repository keeps its values only base64-encoded, which is not "
    "encryption: everyone with read access to the repository and its history has the secret.",
    remediation="Commit an encrypted form instead (SealedSecret, SOPS) or fetch the value from an external "
    "store (ExternalSecret, Secrets Store CSI driver) and rotate the exposed secret.",
    refs={"nsa": NSA},
)
def secret_committed_in_manifest(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind != "Secret" or "sops" in obj.raw:
        return  # sealed, SOPS-encrypted and external forms pass
    allow = ss.Allowlist.of(None, ctx.params.get("sensitive_values_allowed"))
    for field, key in ss.secret_value_keys(obj.raw, allow):
        how = "base64-encoded, not encrypted" if field == "data" else "in plain text"
        yield Violation((field, key), f'Secret {field} key "{key}" holds a committed value ({how})')


@rule(
    id="KF-SEC-006",
    slug="credential-on-command-line",
    title="Credential passed on the command line",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    params=ALLOW_PARAMS,
    rationale="Command lines are stored in the pod spec and are visible to every process on the node "
    "through /proc and ps, and in audit logs and monitoring.",
    remediation="Pass the credential through a mounted Secret file (e.g. --password-file) or an env var from a Secret.",
    refs={"nsa": NSA},
)
def credential_on_command_line(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    allow = _allow(ctx)
    for list_name in ("command", "args"):
        tokens = c.raw.get(list_name)
        if not isinstance(tokens, list):
            continue
        for i, reasons in sorted(ss.scan_command_line(tokens, allow).items()):
            yield Violation(
                c.at(list_name, i), f"{list_name}[{i}] of {c.label} passes a credential ({'; '.join(reasons)})"
            )


# --------------------------------------------------------------------------------------------------
# KF-SEC-007: the cluster as a whole

#: API groups of secret-store integrations: their CRDs (or objects) show the tool is installed
SECRET_STORE_GROUPS = {
    "secrets-store.csi.x-k8s.io": "Secrets Store CSI driver",
    "external-secrets.io": "External Secrets Operator",
    "bitnami.com": "Sealed Secrets",
    "secrets.hashicorp.com": "Vault Secrets Operator",
    "isindir.github.com": "sops-secrets-operator",
    "onepassword.com": "1Password operator",
    "secrets.doppler.com": "Doppler operator",
    "secrets.infisical.com": "Infisical operator",
    "vault.banzaicloud.com": "Bank-Vaults",
}
#: CSI drivers that mount secrets from an external store (the upstream driver, GKE's Secret Manager add-on)
SECRET_STORE_DRIVERS = frozenset({"secrets-store.csi.k8s.io", "secrets-store-gke.csi.k8s.io"})
VAULT_INJECTOR_WEBHOOK = "vault.hashicorp.com"  # the Vault agent injector's mutating webhook
FLUX_KUSTOMIZE = "kustomize.toolkit.fluxcd.io"


def _secret_stores(inv: Inventory) -> list[str]:
    found: list[str] = []
    for crd in inv.of_kind("CustomResourceDefinition"):
        tool = SECRET_STORE_GROUPS.get(str(crd.get("spec", "group") or ""))
        if tool is not None:
            found.append(f"{tool} (CRD {crd.name})")
    found += [f"CSIDriver {d.name}" for d in inv.of_kind("CSIDriver") if d.name in SECRET_STORE_DRIVERS]
    for w in inv.of_kind("MutatingWebhookConfiguration"):
        hooks = w.get("webhooks")
        names = {h.get("name") for h in hooks if isinstance(h, dict)} if isinstance(hooks, list) else set()
        if VAULT_INJECTOR_WEBHOOK in names:
            found.append(f"Vault agent injector (webhook configuration {w.name})")
    found += [
        f"Flux SOPS decryption (Kustomization {k.namespace}/{k.name})"
        for k in inv.of_kind("Kustomization")
        if k.group == FLUX_KUSTOMIZE and k.get("spec", "decryption", "provider") == "sops"
    ]
    return found


@rule(
    id="KF-SEC-007",
    slug="no-external-secret-store",
    title="No external secret store in use",
    severity=Severity.INFO,
    scope=Scope.CLUSTER,
    needs=["CustomResourceDefinition", "CSIDriver", "MutatingWebhookConfiguration", f"Kustomization.{FLUX_KUSTOMIZE}"],
    rationale="With every credential kept as a plain Kubernetes Secret, whoever reads Secrets, etcd or its backups "
    "holds them all, and they are neither rotated nor audited where they are issued.",
    remediation="Keep credentials in an external store (Vault, a cloud secret manager, External Secrets Operator, "
    "the Secrets Store CSI driver) or at least encrypted in Git (Sealed Secrets, SOPS).",
    refs={"cis": "5.4.2", "kubescape": ("C-0208", "C-0234"), "nsa": NSA},
)
def no_external_secret_store(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    if _secret_stores(inv):
        return
    yield Violation(
        (),
        "no external secret store is in use: looked for the CRDs of "
        + ", ".join(sorted(set(SECRET_STORE_GROUPS.values())))
        + f", the CSI drivers {', '.join(sorted(SECRET_STORE_DRIVERS))}, the Vault agent injector webhook and "
        "Flux Kustomizations decrypting with SOPS",
    )


RULES = [
    no_external_secret_store,
    secret_in_env_literal,
    secret_as_env_var,
    configmap_credentials,
    secret_in_annotations,
    secret_committed_in_manifest,
    credential_on_command_line,
]
