"""Output of ``kubefort etcd probe`` and ``kubefort etcd secrets``.

The probe's report is an ordinary :class:`~kubefort.engine.findings.Report` (the engine judged one
``EtcdEndpoint`` object per endpoint): every format renders it as for ``scan``, with what each
endpoint answered in front (table), beside it (``endpoints`` in JSON) and in the notes (JSON).
``secrets`` renders the document of ``kubefort.etcd.storage_scan.StorageReport.to_dict`` (its JSON
output), so the table and the JSON say the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

from ..engine.findings import Report
from ..model.etcd import Attempt, EtcdEndpoint
from . import Format, get_reporter, printable
from .json_report import report_dict


def write_json(doc: Any, out: IO[str]) -> None:
    """The JSON documents of the etcd and backup commands: indented, one per output."""
    out.write(json.dumps(doc, indent=2) + "\n")


# -- etcd probe ---------------------------------------------------------------------------------------


def attempt_label(a: Attempt) -> str:
    if not a.tried:
        return "not tried"
    if not a.accepted:
        return f"rejected ({a.detail})" if a.detail else "rejected"
    if a.data_readable:
        return "ACCEPTED, data readable"
    if a.auth_required:
        return "accepted, data refused by etcd auth"
    return "ACCEPTED"


def _attempt_dict(a: Attempt | None) -> dict[str, Any]:
    if a is None or not a.tried:
        return {"tried": False}
    return {
        "tried": True,
        "accepted": a.accepted,
        "data_readable": a.data_readable,
        "auth_required": a.auth_required,
        "detail": a.detail,
    }


def endpoint_dict(e: EtcdEndpoint) -> dict[str, Any]:
    """One item of ``endpoints`` in the probe's JSON output."""
    c = e.server_cert
    return {
        "endpoint": e.endpoint,
        "reachable": e.reachable,
        "speaks_tls": e.speaks_tls,
        "plain_http": _attempt_dict(e.plain_http),
        "tls_without_client_cert": _attempt_dict(e.no_cert),
        "tls_with_unknown_ca_cert": _attempt_dict(e.wrong_ca),
        "tls_with_foreign_cert": _attempt_dict(e.foreign_cert),
        "tls_with_given_cert": _attempt_dict(e.with_cert),
        "server_certificate": None
        if c is None
        else {
            "subject": c.subject,
            "issuer": c.issuer,
            "not_after": c.not_after,
            "self_signed": c.self_signed,
            "auto_tls": c.auto_tls,
            "trusted": c.trusted,
            "trust_detail": c.trust_detail,
        },
        "version": dict(e.version),
        "auth": e.auth,
        "auth_detail": e.auth_detail,
        "errors": list(e.errors),
    }


def facts_note(e: EtcdEndpoint) -> str:
    """What an endpoint answered, in one line (a note of the JSON report)."""
    if not e.reachable:
        return f"{e.endpoint}: unreachable ({'; '.join(e.errors)})"
    ver = e.version.get("etcdserver", "?")
    cert = ""
    if e.server_cert:
        trust = {
            True: "trusted by --cacert",
            False: f"NOT trusted by --cacert ({e.server_cert.trust_detail})",
            None: "not verified",
        }[e.server_cert.trusted]
        cert = f"; server certificate {e.server_cert.subject} issued by {e.server_cert.issuer}, {trust}"
    return (
        f"{e.endpoint}: etcd {ver}; plain HTTP {attempt_label(e.plain_http)}; TLS {'yes' if e.speaks_tls else 'no'}; "
        f"no client cert: {attempt_label(e.no_cert)}; unknown-CA cert: {attempt_label(e.wrong_ca)}; etcd auth {e.auth}"
        f" ({e.auth_detail}){cert}"
    )


def _facts_rows(e: EtcdEndpoint) -> list[tuple[str, str]]:
    rows = [
        ("etcd version", e.version.get("etcdserver", "?")),
        ("plain HTTP", attempt_label(e.plain_http)),
        ("speaks TLS", "yes" if e.speaks_tls else "no"),
    ]
    if e.server_cert:
        c = e.server_cert
        trust = {
            True: "trusted by --cacert",
            False: f"NOT trusted by --cacert ({c.trust_detail})",
            None: "not verified (no --cacert)",
        }[c.trusted]
        rows.append(
            (
                "server certificate",
                f"{c.subject} issued by {c.issuer}, until {c.not_after}; {trust}"
                + ("; etcd auto-TLS" if c.auto_tls else ""),
            )
        )
    if e.speaks_tls:
        rows += [("TLS, no client cert", attempt_label(e.no_cert)), ("TLS, unknown-CA cert", attempt_label(e.wrong_ca))]
        if e.foreign_cert:
            rows.append(("TLS, --foreign-cert", attempt_label(e.foreign_cert)))
        if e.with_cert:
            rows.append(("TLS, your cert", attempt_label(e.with_cert)))
    rows.append(("etcd auth", f"{e.auth} ({e.auth_detail})"))
    return rows


def render_probe(
    endpoints: Sequence[EtcdEndpoint],
    report: Report,
    fmt: Format,
    out: IO[str],
    *,
    color: bool | None = None,
    verbose: bool = False,
) -> None:
    if fmt is Format.JSON:
        d = report_dict(report)
        d["notes"] = [facts_note(e) for e in endpoints] + d["notes"]
        d["endpoints"] = [endpoint_dict(e) for e in endpoints]
        write_json(d, out)
        return
    if fmt is Format.TABLE:
        lines = []
        for e in endpoints:
            lines.append(printable(e.endpoint))
            lines += [printable(f"  {k:<22} {v}") for k, v in _facts_rows(e)]
            lines.append("")
        if lines:
            out.write("\n".join(lines) + "\n")
    get_reporter(fmt, color=color, verbose=verbose).render(report, out)


# -- etcd secrets -------------------------------------------------------------------------------------


def render_storage(doc: Mapping[str, Any], fmt: Format, out: IO[str]) -> None:
    """How each stored value is protected: ``doc`` is a ``StorageReport.to_dict()``."""
    if fmt is Format.JSON:
        write_json(doc, out)
        return
    keys = doc["keys"]
    names = [printable(k["key"]) for k in keys]
    width = max([len(n) for n in names] + [3])
    lines = [f"{'KEY':<{width}}  {'STORAGE':<10} KEY NAME"]
    for name, k in zip(names, keys):
        flag = f"  ! {k['problem']}" if k.get("problem") else ""
        lines.append(f"{name:<{width}}  {k['storage']:<10} {printable(k['key_name'] or '-')}{flag}")
    lines.append("")
    lines.append(
        f"source: {printable(doc['source'])} at revision {doc['revision']}; resources: {', '.join(doc['resources'])}"
    )
    summary = doc["summary"]
    lines.append("summary: " + ", ".join(f"{s} {n}" for s, n in summary.items()) + f" (total {len(keys)})")
    for storage, counts in doc["key_names"].items():
        lines.append(f"  {storage} keys: " + ", ".join(f"{printable(k)} ({n})" for k, n in sorted(counts.items())))
    unencrypted = [n for n, k in zip(names, keys) if k["storage"] == "identity"]
    if unencrypted:
        lines.append(f"UNENCRYPTED: {len(unencrypted)} value(s) stored in plaintext (identity):")
        lines += [f"  {n}" for n in unencrypted]
    unknown = sum(1 for k in keys if k["storage"] == "unknown")
    if unknown:
        lines.append(f"UNKNOWN FORMAT: {unknown} value(s)")
    out.write("\n".join(lines) + "\n")
