"""The admission decision: a pure function from an AdmissionReview to the AdmissionReview response.

``review(admission_review, policy)`` builds a one-object :class:`~kubefort.model.inventory.Inventory`
from the request object and runs the same rule engine as ``kubefort scan``
(:func:`kubefort.engine.runner.evaluate`, mode ``admission``), so that what CI flags and what the
cluster blocks never disagree: with the default policy, the denial lists exactly the rule IDs that
``kubefort scan`` reports at or above ``fail_on`` for the same object (rules marked ``cross_object``
aside, see :func:`kubefort.admission.config.split_for_admission`).

Not judged (allowed at once): DELETE and CONNECT (``pods/exec``, ``attach``, ``portforward``...),
subresources other than ``pods/ephemeralcontainers`` and ``pods/resize`` (``status``, ``scale``,
``binding``, ``eviction``...), kinds no selected rule applies to, requests exempt as a whole, and
UPDATEs that change nothing kubefort reads (only ``status`` or bookkeeping metadata such as
``resourceVersion``, ``managedFields``, ``finalizers``, ``ownerReferences``), or of an object being
deleted, so that controllers can keep managing, and finally delete, objects created before the
policy was enforced.

Raises :class:`ReviewError` (an HTTP 4xx for the server) when the request is not an
``admission.k8s.io/v1`` ``AdmissionReview`` with a usable ``request``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine.findings import Finding, Status
from ..engine.runner import evaluate
from ..engine.suppression import Suppressor
from ..model.inventory import Inventory
from ..model.objects import K8sObject, Source
from .config import MODE, AdmissionPolicy, Mode

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
SOURCE = Source(file="<admission>", live=True)
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
#: Subresources whose request object is the whole Pod, judged like the Pod itself.
JUDGED_SUBRESOURCES = frozenset({"ephemeralcontainers", "resize"})
#: Metadata that says nothing about what the object does (changed by controllers all the time).
_BOOKKEEPING = (
    "resourceVersion",
    "generation",
    "managedFields",
    "finalizers",
    "ownerReferences",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
)
MAX_DENIAL_LINES = 25
MAX_WARNINGS = 20
MAX_WARNING_CHARS = 256  # the API server may truncate longer warnings
MAX_WARNINGS_TOTAL = 4000  # and drops warnings past 4096 characters in all


class ReviewError(Exception):
    """The request is not a usable AdmissionReview. ``code`` is the HTTP status to answer with."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


@dataclass(slots=True, kw_only=True)
class AdmissionDecision:
    """What was decided and why; ``response`` is the AdmissionReview to send back."""

    uid: str
    operation: str
    kind: str
    namespace: str
    name: str
    user: str
    sub_resource: str = ""
    dry_run: bool = False
    allowed: bool = True
    judged: bool = False  # the rules ran
    reason: str = ""  # why the request was not judged (delete, exempt, unchanged update...)
    denied: list[str] = field(default_factory=list)  # rule IDs, in report order, without repeats
    warned: list[str] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    exempted: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    not_evaluated: list[str] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        """deny, warn (allowed with warnings), audit (allowed, findings only logged) or allow."""
        if not self.allowed:
            return "deny"
        if self.warned or self.rule_errors:
            return "warn"
        if self.audited:
            return "audit"
        return "allow"

    def log_record(self, latency_s: float) -> dict[str, Any]:
        """The audit log line: identifiers and rule IDs only, never a field value of the object."""
        rec: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "msg": "admission decision",
            "uid": self.uid,
            "operation": self.operation,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "user": self.user,
            "decision": self.outcome,
            "allowed": self.allowed,
            "dry_run": self.dry_run,
            "denied_rules": self.denied,
            "warned_rules": self.warned,
            "audited_rules": self.audited,
            "latency_ms": round(latency_s * 1000, 3),
        }
        if self.sub_resource:
            rec["sub_resource"] = self.sub_resource
        if self.reason:
            rec["not_judged"] = self.reason
        if self.exempted:
            rec["exempted_rules"] = self.exempted
        if self.suppressed:
            rec["suppressed_rules"] = self.suppressed
        if self.not_evaluated:
            rec["not_evaluated_rules"] = self.not_evaluated
        if self.rule_errors:
            rec["rule_errors"] = self.rule_errors
        return rec


def review(admission_review: Any, policy: AdmissionPolicy) -> dict[str, Any]:
    """The AdmissionReview response for ``admission_review`` under ``policy``."""
    return review_detailed(admission_review, policy).response


def parse_review(text: str) -> Any:
    """The JSON document of an AdmissionReview (checked by :func:`parse_request`), else ReviewError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ReviewError(f"not valid JSON: {e.msg} at line {e.lineno}") from None


def parse_request(admission_review: Any) -> Mapping[str, Any]:
    """The ``request`` of a well-formed ``admission.k8s.io/v1`` AdmissionReview, else ReviewError."""
    if _mapping(admission_review) is None:
        raise ReviewError("the body must be a JSON object (an admission.k8s.io/v1 AdmissionReview)")
    api_version, kind = admission_review.get("apiVersion"), admission_review.get("kind")
    if kind != KIND or api_version != API_VERSION:
        raise ReviewError(
            f"expected apiVersion {API_VERSION} and kind {KIND}, got apiVersion "
            f"{_short(api_version)} and kind {_short(kind)} (set admissionReviewVersions: [v1])"
        )
    req = _mapping(admission_review.get("request"))
    if req is None:
        raise ReviewError("the AdmissionReview has no 'request' object")
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid is missing")
    op = req.get("operation")
    if op not in OPERATIONS:
        raise ReviewError(f"request.operation must be one of {', '.join(sorted(OPERATIONS))}, got {_short(op)}")
    if op in ("CREATE", "UPDATE") and _mapping(req.get("object")) is None:
        raise ReviewError(f"request.object must be an object for {op}")
    return req


def review_detailed(admission_review: Any, policy: AdmissionPolicy) -> AdmissionDecision:
    req = parse_request(admission_review)
    uid: str = req["uid"]
    op: str = req["operation"]
    obj_raw = _mapping(req.get("object"))
    old_raw = _mapping(req.get("oldObject"))
    rkind = _mapping(req.get("kind")) or {}
    raw_for_id = obj_raw or old_raw or {}
    kind = _str(raw_for_id.get("kind")) or _str(rkind.get("kind"))
    namespace = _str(req.get("namespace"))
    name = _str(req.get("name")) or _str(_md(raw_for_id).get("name"))
    if not name and _md(raw_for_id).get("generateName"):
        name = f"{_str(_md(raw_for_id).get('generateName'))}*"
    user_info = _mapping(req.get("userInfo")) or {}
    user = _str(user_info.get("username"))
    groups = (
        [g for g in user_info.get("groups") or () if isinstance(g, str)]
        if isinstance(user_info.get("groups"), list)
        else []
    )
    sub = _str(req.get("subResource"))
    d = AdmissionDecision(
        uid=uid,
        operation=op,
        kind=kind,
        namespace=namespace,
        name=name,
        user=user,
        sub_resource=sub,
        dry_run=req.get("dryRun") is True,
    )

    reason = _not_judged(op, sub, kind, obj_raw, old_raw, policy)
    if reason is None:
        # a Namespace object is "in" itself for exemptions (kube-system's own Namespace is exempt with it)
        ex_ns = name if kind == "Namespace" and not namespace else namespace
        exempt_rules: dict[str, str] = {}
        for e in policy.exemptions:
            if e.matches(ex_ns, user, groups, kind):
                if e.whole_request:
                    reason = f"exempt: {e.reason}"
                    break
                for rid in e.rules:
                    exempt_rules.setdefault(rid, e.reason)
    if reason is not None:
        d.reason = reason
        d.response = _response(uid, True)
        return d

    assert obj_raw is not None
    d.judged = True
    _judge(d, obj_raw, namespace, kind, policy, exempt_rules)
    return d


def _not_judged(
    op: str, sub: str, kind: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None, policy: AdmissionPolicy
) -> str | None:
    if op == "DELETE":
        return "delete"
    if op == "CONNECT":
        return f"connect{f' ({sub})' if sub else ''}"
    if sub and sub not in JUDGED_SUBRESOURCES:
        return f"subresource {sub}"
    if not policy.applies_to(kind):
        return "no rule applies to this kind"
    if op == "UPDATE" and old is not None and obj is not None:
        if _md(old).get("deletionTimestamp") or _md(obj).get("deletionTimestamp"):
            return "object is being deleted"
        if not policy.judge_unchanged_updates and _essence(obj) == _essence(old):
            return "update changes nothing kubefort reads"
    return None


def _judge(
    d: AdmissionDecision,
    obj_raw: Mapping[str, Any],
    namespace: str,
    kind: str,
    policy: AdmissionPolicy,
    exempt_rules: Mapping[str, str],
) -> None:
    if not obj_raw.get("kind") and kind:
        obj_raw = {**obj_raw, "kind": kind}
    obj = K8sObject.from_raw(obj_raw, SOURCE, default_namespace=namespace or "default", cluster_scoped=not namespace)
    report = evaluate(
        policy.plan or policy.rules,
        Inventory([obj]),
        params=policy.params,
        suppressor=Suppressor(policy.cfg.exceptions),
        mode=MODE,
        min_severity=policy.min_severity,
        fail_on=policy.fail_on,
        keep_passes=False,
    )
    deny: list[Finding] = []
    warn: list[Finding] = []
    seen: dict[str, set[str]] = {"deny": set(), "warn": set(), "audit": set(), "exempt": set(), "suppressed": set()}

    def note(bucket: str, target: list[str], rid: str) -> None:
        if rid not in seen[bucket]:
            seen[bucket].add(rid)
            target.append(rid)

    for f in report.findings:
        rid = f.rule.id
        if f.suppressed:
            note("suppressed", d.suppressed, rid)
            continue
        if rid in exempt_rules:
            note("exempt", d.exempted, rid)
            continue
        mode, threshold = policy.mode_for(rid)
        if mode is Mode.AUDIT:
            note("audit", d.audited, rid)
        elif mode is Mode.ENFORCE and f.severity >= threshold:
            deny.append(f)
            note("deny", d.denied, rid)
        else:
            warn.append(f)
            note("warn", d.warned, rid)
    errors = []
    for r in report.results:
        if r.status is Status.NOT_EVALUATED:
            d.not_evaluated.append(r.rule.id)
        elif r.status is Status.ERROR and r.rule.id not in exempt_rules:
            d.rule_errors.append(r.rule.id)
            errors.append(r)
    if errors and policy.on_rule_error == "deny":
        d.denied.extend(e.rule.id for e in errors if e.rule.id not in d.denied)
    d.allowed = not d.denied
    warnings = _warnings(warn, errors if policy.on_rule_error == "warn" else [])
    status = None
    if not d.allowed:
        status = {
            "code": 403,
            "reason": "Forbidden",
            "message": _denial_message(obj, deny, errors if policy.on_rule_error == "deny" else [], policy),
        }
    audit: dict[str, str] = {}
    if d.denied:
        audit["denied-rules"] = ",".join(d.denied)
    if d.warned:
        audit["warned-rules"] = ",".join(d.warned)
    if d.audited:
        audit["audited-rules"] = ",".join(d.audited)
    if d.exempted:
        audit["exempted-rules"] = ",".join(d.exempted)
    d.response = _response(d.uid, d.allowed, status=status, warnings=warnings, audit=audit)


def _response(
    uid: str,
    allowed: bool,
    *,
    status: dict[str, Any] | None = None,
    warnings: list[str] | None = None,
    audit: dict[str, str] | None = None,
) -> dict[str, Any]:
    resp: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if status is not None:
        resp["status"] = status
    if warnings:
        resp["warnings"] = warnings
    if audit:
        resp["auditAnnotations"] = audit
    return {"apiVersion": API_VERSION, "kind": KIND, "response": resp}


def _denial_message(obj: K8sObject, deny: list[Finding], errors: list[Any], policy: AdmissionPolicy) -> str:
    ids = []
    for f in deny:
        if f.rule.id not in ids:
            ids.append(f.rule.id)
    what = f"{obj.kind} {obj.namespace + '/' if obj.namespace else ''}{obj.name}"
    head = (
        f"kubefort: {what} violates {len(ids)} rule{'s' if len(ids) != 1 else ''} ({', '.join(ids)})"
        if ids
        else f"kubefort: {what} could not be judged"
    )
    lines = [head + ":"]
    fixes_given: set[str] = set()
    for f in deny[:MAX_DENIAL_LINES]:
        line = f"- {f.rule.id} {f.rule.title} ({f.severity.label}) at {f.path_str or '<object>'}: {f.message}."
        if f.rule.id not in fixes_given:  # the remediation once per rule
            fixes_given.add(f.rule.id)
            line += f" Fix: {f.rule.remediation}"
        lines.append(line)
    if len(deny) > MAX_DENIAL_LINES:
        lines.append(f"- ... and {len(deny) - MAX_DENIAL_LINES} more finding(s); run 'kubefort scan' on the manifest")
    for e in errors:
        lines.append(
            f"- {e.rule.id} {e.rule.title}: the rule failed on this object ({e.detail.split(' (')[0]}); "
            "denied because on_rule_error is deny"
        )
    lines.append('Suppress a finding with the annotation kubefort.io/ignore: "<RULE-ID>=<reason>".')
    return "\n".join(lines)


def _warnings(warn: list[Finding], errors: list[Any]) -> list[str]:
    out: list[str] = []
    total = 0
    warn = sorted(warn, key=lambda f: -f.severity)  # the most severe first: the API server may drop the last ones
    items = [f"kubefort {f.rule.id} ({f.severity.label}) {f.path_str or '<object>'}: {f.message}" for f in warn]
    items += [f"kubefort {e.rule.id}: the rule failed on this object; not enforced" for e in errors]
    for i, w in enumerate(items):
        if len(w) > MAX_WARNING_CHARS:
            w = w[: MAX_WARNING_CHARS - 3] + "..."
        if (len(out) == MAX_WARNINGS - 1 and len(items) > MAX_WARNINGS) or total + len(w) > MAX_WARNINGS_TOTAL:
            out.append(f"kubefort: {len(items) - i} more warning(s); run 'kubefort scan' on the manifest")
            break
        out.append(w)
        total += len(w)
    return out


def _essence(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The object without status and bookkeeping metadata: what the rules can read."""
    d = {k: v for k, v in raw.items() if k != "status"}
    md = raw.get("metadata")
    if isinstance(md, Mapping):
        d["metadata"] = {k: v for k, v in md.items() if k not in _BOOKKEEPING}
    return d


def _mapping(v: Any) -> Mapping[str, Any] | None:
    # a dict (what JSON gives) without the Mapping ABC's slower check
    return v if type(v) is dict or isinstance(v, Mapping) else None


def _md(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    md = raw.get("metadata")
    return md if isinstance(md, Mapping) else {}


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _short(v: Any) -> str:
    s = repr(v) if v is not None else "nothing"
    return s if len(s) <= 60 else s[:57] + "..."


__all__ = ["API_VERSION", "AdmissionDecision", "ReviewError", "parse_review", "review", "review_detailed"]
