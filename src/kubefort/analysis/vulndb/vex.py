"""OpenVEX documents (https://github.com/openvex/spec): statements that a product is, or is not,
affected by a vulnerability. ``--vex FILE`` applies them to an image's matches: a match whose
advisory (or one of its aliases) a statement names, for a product that is the image (its reference,
its digest, or a ``pkg:oci`` purl of that digest; the statement's ``subcomponents`` then narrow it to
packages) or the package itself (by purl), carries the statement's status. The last statement that
applies wins, as the specification orders them. ``not_affected`` and ``fixed`` findings are kept
in the report, marked suppressed with the statement's justification (:class:`VexSuppressor`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from ...engine.config import ExceptionEntry
from ...engine.findings import Finding
from ...engine.rule import RuleMeta
from ...engine.suppression import Suppressor
from ...errors import UsageError
from ...model.objects import K8sObject
from .match import VulnMatch

SUPPRESSING = frozenset({"not_affected", "fixed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class VexStatement:
    vulnerabilities: frozenset[str]  # upper-case names and aliases
    products: tuple[str, ...]
    subcomponents: tuple[str, ...]
    status: str
    justification: str
    document: str
    order: int


def _names(v: Any) -> set[str]:
    if isinstance(v, str):
        return {v.upper()}
    if isinstance(v, Mapping):
        out = {str(v[k]).upper() for k in ("name", "@id") if isinstance(v.get(k), str)}
        out |= {str(a).upper() for a in v.get("aliases") or [] if isinstance(a, str)}
        return out
    return set()


def _ids(items: Any) -> list[str]:
    out = []
    for p in items or []:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, Mapping):
            if isinstance(p.get("@id"), str):
                out.append(p["@id"])
            ids = p.get("identifiers")
            if isinstance(ids, Mapping) and isinstance(ids.get("purl"), str):
                out.append(ids["purl"])
    return out


def load_vex(paths: Sequence[str]) -> list[VexStatement]:
    out: list[VexStatement] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except OSError as e:
            raise UsageError(f"--vex {path}: {e.strerror}") from None
        except ValueError as e:
            raise UsageError(f"--vex {path}: not JSON ({e})") from None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("statements"), list):
            raise UsageError(f"--vex {path}: not an OpenVEX document (no statements)")
        for st in doc["statements"]:
            if not isinstance(st, Mapping):
                continue
            vulns = _names(st.get("vulnerability"))
            status = str(st.get("status") or "")
            if not vulns or not status:
                continue
            products = st.get("products") or []
            subs: list[str] = []
            for p in products:
                if isinstance(p, Mapping):
                    subs += _ids(p.get("subcomponents"))
            out.append(
                VexStatement(
                    vulnerabilities=frozenset(vulns),
                    products=tuple(_ids(products)),
                    subcomponents=tuple(subs),
                    status=status,
                    justification=str(st.get("justification") or st.get("impact_statement") or ""),
                    document=path,
                    order=len(out),
                )
            )
    return out


def _purl_covers(pattern: str, purl: str) -> bool:
    """Whether a statement's purl names this package: same type, namespace and name; its version
    (when given) equal; its qualifiers a subset of the package's."""
    try:
        a, b = PackageURL.from_string(pattern), PackageURL.from_string(purl)
    except ValueError:
        return False
    if (a.type, a.namespace or "", a.name) != (b.type, b.namespace or "", b.name):
        return False
    if a.version and a.version != b.version:
        return False
    qa, qb = a.qualifiers or {}, b.qualifiers or {}
    assert isinstance(qa, dict) and isinstance(qb, dict)
    return all(qb.get(k) == v for k, v in qa.items())


def _is_image(product: str, image_ids: Iterable[str]) -> bool:
    ids = set(image_ids)
    if product in ids:
        return True
    if product.startswith("pkg:oci/"):
        try:
            version = PackageURL.from_string(product).version or ""
        except ValueError:
            return False
        return version in ids
    return False


def apply_vex(
    matches: Sequence[VulnMatch], statements: Sequence[VexStatement], image_ids: Iterable[str]
) -> list[VulnMatch]:
    """``matches`` with the status of the last statement that applies to each."""
    ids = [i for i in image_ids if i]
    out = []
    for m in matches:
        names = {m.id.upper(), *(a.upper() for a in m.aliases)}
        chosen: VexStatement | None = None
        for st in statements:
            if not names & st.vulnerabilities:
                continue
            applies = False
            for product in st.products:
                if _is_image(product, ids):
                    applies = not st.subcomponents or any(_purl_covers(s, m.package.purl) for s in st.subcomponents)
                elif product.startswith("pkg:") and _purl_covers(product, m.package.purl):
                    applies = True
                if applies:
                    break
            if applies:
                chosen = st
        if chosen is not None:
            from dataclasses import replace

            m = replace(
                m,
                vex={"status": chosen.status, "justification": chosen.justification, "document": chosen.document},
            )
        out.append(m)
    return out


class VexSuppressor(Suppressor):
    """The engine's suppressions, plus the VEX statuses recorded on an image's matches: a finding of
    KF-VULN-001 at a match (or of KF-VULN-002 naming an advisory of an image) whose status is
    ``not_affected`` or ``fixed`` is suppressed with the statement's justification."""

    def __init__(
        self,
        exceptions: Iterable[ExceptionEntry] = (),
        baseline: set[tuple[Any, ...]] | None = None,
        *,
        image_vex: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        super().__init__(exceptions, baseline)
        self.image_vex = dict(image_vex or {})  # (image reference, advisory) -> reason

    def reason(self, meta: RuleMeta, obj: K8sObject, finding: Finding | None = None) -> str | None:
        why = super().reason(meta, obj, finding)
        if why is not None or finding is None:
            return why
        if meta.id == "KF-VULN-001":
            match = obj.get(*finding.path)
            vex = match.get("vex") if isinstance(match, Mapping) else None
            if isinstance(vex, Mapping) and vex.get("status") in SUPPRESSING:
                return f"VEX: {vex.get('status')} ({vex.get('justification') or 'no justification'}) in {vex.get('document')}"
        elif meta.id == "KF-VULN-002" and finding.subcode:
            image = obj.get(*finding.path)
            if isinstance(image, str):
                return self.image_vex.get((image, finding.subcode))
        return None


def image_vex_reasons(objects: Iterable[K8sObject]) -> dict[tuple[str, str], str]:
    """(reference, advisory) -> reason, for the advisories whose every match in an image is suppressed
    by VEX (what KF-VULN-002's findings, one per advisory and container, are suppressed by)."""
    from ...model.image import image_references, is_container_image

    out: dict[tuple[str, str], str] = {}
    for obj in objects:
        if not is_container_image(obj):
            continue
        vulns = obj.get("status", "vulnerabilities")
        if not isinstance(vulns, Mapping):
            continue
        by_adv: dict[str, list[Mapping[str, Any]]] = {}
        for v in vulns.values():
            if isinstance(v, Mapping) and isinstance(v.get("id"), str):
                by_adv.setdefault(v["id"], []).append(v)
        for adv, items in by_adv.items():
            vexes = [i.get("vex") for i in items]
            if all(isinstance(x, Mapping) and x.get("status") in SUPPRESSING for x in vexes):
                first = vexes[0]
                assert isinstance(first, Mapping)
                reason = f"VEX: {first.get('status')} ({first.get('justification') or 'no justification'}) in {first.get('document')}"
                for ref in image_references(obj):
                    out[(ref, adv)] = reason
    return out
