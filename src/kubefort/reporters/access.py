"""``kubefort access`` output: what a grant wrote and the steps that register it (never a key), and the
audit (people, certificate requests, findings, revocation) as text or JSON."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from typing import IO, Any

from ..access.audit import CertificateRequest, Person
from ..engine.findings import Report
from . import printable


def write_grant(user: str, paths: Mapping[str, str], steps: Sequence[str], out: IO[str]) -> None:
    """The files written (with their modes) and the next steps."""
    out.write(printable(f"Access kit for {user}:") + "\n")
    for name, path in paths.items():
        mode = stat.S_IMODE(os.stat(path).st_mode)
        what = " (private key: keep it, never share it)" if name.endswith(".key") else ""
        out.write(printable(f"  {path}  {mode:04o}{what}") + "\n")
    out.write("Next steps (an administrator registers the request):\n")
    for line in steps:
        out.write(printable(f"  {line}") + "\n")


def _hours(seconds: int | None) -> str:
    return "no expiry set (signer maximum)" if seconds is None else f"{seconds / 3600:g} h"


def audit_document(
    people: Sequence[Person], requests: Sequence[CertificateRequest], report: Report, guidance: Sequence[str]
) -> dict[str, Any]:
    """The JSON document of ``access audit``."""
    return {
        "people": [
            {
                "kind": p.kind,
                "name": p.name,
                "bindings": [
                    {
                        "binding": b.binding,
                        "role": b.role,
                        "namespace": b.namespace,
                        "shared": b.shared,
                        "revoke": b.revoke,
                    }
                    for b in p.bindings
                ],
            }
            for p in people
        ],
        "certificate_requests": [
            {
                "name": r.name,
                "signer": r.signer,
                "user": r.user,
                "groups": list(r.groups),
                "expiration_seconds": r.expiration_seconds,
                "approved": r.approved,
                "issued": r.issued,
            }
            for r in requests
        ],
        "findings": [
            {
                "rule_id": f.rule.id,
                "severity": f.severity.name.lower(),
                "object": str(f.object),
                "message": f.message,
                "subcode": f.subcode,
            }
            for f in report.active_findings
        ],
        "revocation": list(guidance),
    }


def write_audit(
    people: Sequence[Person],
    requests: Sequence[CertificateRequest],
    report: Report,
    guidance: Sequence[str],
    fmt: str,
    out: IO[str],
) -> None:
    """``access audit`` as text (people, certificate requests, findings, revocation) or JSON."""
    if fmt == "json":
        json.dump(audit_document(people, requests, report, guidance), out, indent=2)
        out.write("\n")
        return
    lines = [f"People with bindings ({len(people)}):"]
    for p in people:
        lines.append(f"  {p.kind} {p.name}")
        for b in p.bindings:
            where = f"namespace {b.namespace}" if b.namespace else "every namespace"
            lines.append(f"    {b.binding} -> {b.role} ({where})")
            lines.append(f"      revoke: {b.revoke}")
    if not people:
        lines.append("  none")
    lines.append(f"Certificate requests ({len(requests)}):")
    for r in requests:
        who = "unparsable request" if r.user is None else f"CN={r.user}" + "".join(f" O={g}" for g in r.groups)
        state = "issued" if r.issued else "approved" if r.approved else "pending"
        lines.append(f"  {r.name}: {who}, signer {r.signer or '?'}, {_hours(r.expiration_seconds)}, {state}")
    if not requests:
        lines.append("  none")
    findings = report.active_findings
    lines.append(f"Findings ({len(findings)}):")
    for f in findings:
        lines.append(f"  {f.severity.name.lower():<8} {f.rule.id}  {f.object}: {f.message}")
    lines.append("Revoking access:")
    lines.extend(f"  - {g}" for g in guidance)
    for line in lines:
        out.write(printable(line) + "\n")
