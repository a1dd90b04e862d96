"""Output of ``kubefort admission`` (rules, review, certs, serve) and of ``kubefort policy export``.

The values come from :mod:`kubefort.admission` (which this layer does not import: the shapes it reads
are the protocols below). Rule titles, reasons and names can come from a config or policy file, so
text goes through :func:`kubefort.reporters.printable`; JSON escapes control characters itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, Protocol

from . import printable

RULES_FORMATS = ("table", "json")


class _EvaluatedRule(Protocol):
    """A rule the webhook evaluates (``kubefort.admission.config.EvaluatedRule``)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def denies_from(self) -> str | None: ...
    @property
    def not_on_kinds(self) -> Sequence[str]: ...


class _SkippedRule(Protocol):
    """A rule the webhook skips (``kubefort.admission.config.SkippedRule``)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def reason(self) -> str: ...


class _NativeExport(Protocol):
    """``kubefort.admission.config.NativeExport``."""

    @property
    def cel(self) -> Sequence[str]: ...
    @property
    def fixes(self) -> Sequence[str]: ...
    @property
    def not_cel(self) -> Sequence[tuple[str, str]]: ...


class _RuleListing(Protocol):
    """``kubefort.admission.config.RuleListing``."""

    @property
    def fail_on(self) -> str: ...
    @property
    def evaluated(self) -> Sequence[_EvaluatedRule]: ...
    @property
    def skipped(self) -> Sequence[_SkippedRule]: ...
    @property
    def native(self) -> _NativeExport | None: ...


def _json(doc: Any, out: IO[str]) -> None:
    out.write(json.dumps(doc, indent=2) + "\n")


def rules_document(listing: _RuleListing) -> dict[str, Any]:
    """The JSON of ``kubefort admission rules -o json``."""
    native = listing.native
    extra: dict[str, Any] = {}
    if native is not None:
        extra["native_policies"] = {
            "cel": list(native.cel),
            "fixes": list(native.fixes),
            "not_cel": [{"id": rid, "reason": why} for rid, why in native.not_cel],
        }
    return {
        "fail_on": listing.fail_on,
        "evaluated": [
            {
                "id": e.id,
                "title": e.title,
                "severity": e.severity,
                "mode": e.mode,
                "denies_from": e.denies_from,
                "not_on_kinds": list(e.not_on_kinds),
            }
            for e in listing.evaluated
        ],
        "skipped": [
            {"id": s.id, "title": s.title, "severity": s.severity, "reason": s.reason} for s in listing.skipped
        ],
        **extra,
    }


def write_rules(listing: _RuleListing, fmt: str, out: IO[str]) -> None:
    """The rules evaluated at admission and those skipped, as a table or JSON."""
    if fmt == "json":
        _json(rules_document(listing), out)
    else:
        out.writelines(printable(line) + "\n" for line in _rules_table(listing))


def _rules_table(listing: _RuleListing) -> Iterator[str]:
    yield f"Evaluated at admission ({len(listing.evaluated)}): findings at or above the threshold deny, lower ones warn."
    for e in listing.evaluated:
        extra = f"deny from {e.denies_from}" if e.denies_from else e.mode
        partly = f" (not on {', '.join(e.not_on_kinds)}: needs other objects)" if e.not_on_kinds else ""
        yield f"  {e.id:<12} {e.severity:<8} {extra:<18} {e.title}{partly}"
    yield ""
    yield f"Skipped at admission ({len(listing.skipped)}): 'kubefort scan' reports them."
    for s in listing.skipped:
        yield f"  {s.id:<12} {s.severity:<8} {s.title}"
        yield f"  {'':<12} {s.reason}"
    native = listing.native
    if native is None:
        return
    yield ""
    yield (
        f"Native admission policies ('kubefort policy export'): {len(native.cel)} of the {len(listing.evaluated)} "
        f"rules above export as CEL (vap, kyverno), {len(native.fixes)} of them with their fix (mutating: "
        f"{', '.join(native.fixes) or 'none'}); the others, and why:"
    )
    for rid, why in native.not_cel:
        yield f"  {rid:<12} {why}"


def write_review(response: Mapping[str, Any], out: IO[str]) -> None:
    """The AdmissionReview response of ``kubefort admission review``, as the webhook sends it."""
    _json(response, out)


def serving(*, rules: int, skipped: int, fail_on: str, host: str, port: int, workers: int) -> str:
    """The line ``kubefort admission serve`` writes to stderr when it starts listening."""
    return printable(
        f"kubefort admission: {rules} rules at admission ({skipped} skipped), "
        f"deny at {fail_on} and above; listening on https://{host}:{port}"
        f"{f' with {workers} workers' if workers > 1 else ''}"
    )


def certs_written(paths: Mapping[str, str], names: Sequence[str], namespace: str) -> list[str]:
    """What ``kubefort admission certs`` wrote, the names the certificate is for, and the next step."""
    lines = [f"wrote {path}" for path in paths.values()]
    lines.append(f"SANs: {', '.join(names)}")
    lines.append(
        f"next: kubectl -n {namespace} create secret tls <secret> --cert {paths['tls.crt']} --key {paths['tls.key']}"
    )
    return [printable(line) for line in lines]


def export_summary(fmt: str, exported: Sequence[str], unsupported: Sequence[tuple[str, str]]) -> list[str]:
    """The stderr lines of ``kubefort policy export``: the rules exported, and why the others are not."""
    lines = [f"kubefort: exported {len(exported)} rule(s) as {fmt}: {', '.join(exported) or 'none'}"]
    if unsupported:
        lines.append(f"kubefort: {len(unsupported)} rule(s) cannot be expressed as {fmt}:")
        lines += [f"  {rid}: {why}" for rid, why in unsupported]
    return [printable(line) for line in lines]
