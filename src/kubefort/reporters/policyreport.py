"""PolicyReports (``wgpolicyk8s.io/v1alpha2`` ``PolicyReport`` and ``ClusterPolicyReport``), the
format of the Kubernetes Policy working group that Kyverno, Policy Reporter and many tools read.

The same results, grouping, splitting and part names as :mod:`.openreports` (which documents how
kubefort's results map); the differences are the API group and kinds, and that v1alpha2 has no
report-level ``source`` (each result names it).
"""

from __future__ import annotations

from .openreports import OpenReportsReporter, ReportFormat

POLICYREPORT = ReportFormat(
    api_version="wgpolicyk8s.io/v1alpha2", kind="PolicyReport", cluster_kind="ClusterPolicyReport", report_source=False
)


class PolicyReportReporter(OpenReportsReporter):
    """``-o policyreport``: ``PolicyReport`` per namespace and a ``ClusterPolicyReport``, as a YAML stream."""

    fmt = POLICYREPORT
