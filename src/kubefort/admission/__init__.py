"""kubefort as a validating admission webhook, and export of its rules as native admission policies.

- :mod:`.config`: the webhook policy (rule selection shared with ``kubefort scan``, threshold, modes
  per rule set, exemptions).
- :mod:`.review`: the decision, a pure function ``review(admission_review, policy) -> dict``.
- :mod:`.server`: the HTTPS server (starlette + uvicorn): /validate, /healthz, /readyz, /metrics.
- :mod:`.certs`, :mod:`.manifests`: deployment helpers.
- :mod:`.policy_export`: ValidatingAdmissionPolicy (CEL), Kyverno ValidatingPolicy and ClusterPolicy export.
- :mod:`.mutating_export`: the rules' safe fixes as MutatingAdmissionPolicies.
"""

from __future__ import annotations

from .config import AdmissionPolicy, Exemption, Mode, RuleSetMode, load_policy
from .review import AdmissionDecision, ReviewError, review, review_detailed

__all__ = [
    "AdmissionDecision",
    "AdmissionPolicy",
    "Exemption",
    "Mode",
    "ReviewError",
    "RuleSetMode",
    "load_policy",
    "review",
    "review_detailed",
]
