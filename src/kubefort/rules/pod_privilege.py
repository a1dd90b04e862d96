"""POD rules about privilege: privileged containers, host namespaces, capabilities, users."""

from __future__ import annotations

from typing import Iterator

from ..engine.rule import Context, Scope, Severity, Violation, rule
from ..model.workloads import ContainerView
from ._common import BASELINE, pss

NSA = "NSA/CISA: pod security"


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
)
def privileged_container(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    p = c.sc("privileged")
    if p.value is True:
        yield Violation(p.path, f"{c.label} runs privileged")  # type: ignore[arg-type]


RULES = [privileged_container]
