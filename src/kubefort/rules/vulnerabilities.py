"""VULN rules: known vulnerabilities of the packages in images, from the advisories matched offline
(``kubefort vulndb import``; :mod:`kubefort.analysis.vulndb`). The severity of each finding is the
advisory's (CVSS base score, the database's rating, the distribution's urgency), the rule's medium when it
gives none; every finding's sub-code is the advisory ID."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.image import KIND, image_references, is_container_image
from ..model.inventory import Inventory
from ..model.objects import K8sObject
from ..model.workloads import ContainerSet, ContainerView

_SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}


def _severity(v: Mapping[str, Any]) -> Severity | None:
    """The advisory's severity; None (the rule's default, medium) when it gives none."""
    return _SEVERITY.get(str(v.get("severity") or ""))


def _describe(v: Mapping[str, Any]) -> str:
    pkg = v.get("package") if isinstance(v.get("package"), Mapping) else {}
    assert isinstance(pkg, Mapping)
    aliases = [a for a in v.get("aliases") or [] if isinstance(a, str) and a != v.get("id")]
    also = f" ({', '.join(aliases[:3])})" if aliases else ""
    fixed = [str(f) for f in v.get("fixed") or []]
    fix = f", fixed in {' or '.join(fixed)}" if fixed else ", no fixed version"
    sev = str(v.get("severity") or "unknown")
    score = f" {v.get('score')}" if isinstance(v.get("score"), (int, float)) else ""
    src = f" (source {pkg.get('source')})" if pkg.get("source") else ""
    layer = f", layer {pkg.get('layer')}" if pkg.get("layer") is not None else ""
    return (
        f"{v.get('id')}{also} in {pkg.get('type')} package {pkg.get('name')} {pkg.get('version')}{src}"
        f"{fix}; severity {sev}{score}{layer}"
    )


def _vulns(obj: K8sObject) -> Mapping[str, Any]:
    vulns = obj.get("status", "vulnerabilities")
    return vulns if isinstance(vulns, Mapping) else {}


@rule(
    id="KF-VULN-001",
    slug="image-known-vulnerability",
    title="Image contains a package with a known vulnerability",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=(KIND,),
    applies=is_container_image,
    modes=("manifest", "image"),
    rationale="A package with a published advisory gives attackers a documented way in; images keep the "
    "versions they were built with until they are rebuilt.",
    remediation="Rebuild the image on an updated base and upgrade the package to a fixed version; if the "
    "vulnerable code cannot be reached, record that in an OpenVEX statement (--vex).",
    refs={"nsa": "NSA/CISA: image hygiene / scanning", "kubescape": ("C-0083", "C-0084", "C-0085")},
)
def image_known_vulnerability(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for key, v in _vulns(obj).items():
        if isinstance(v, Mapping):
            yield Violation(
                ("status", "vulnerabilities", key),
                _describe(v),
                severity=_severity(v),
                subcode=str(v.get("id") or "") or None,
            )


def _image_index(inv: Inventory) -> dict[str, K8sObject]:
    out: dict[str, K8sObject] = {}
    for obj in inv.of_kind(KIND):
        if is_container_image(obj):
            for ref in image_references(obj):
                out.setdefault(ref, obj)
    return out


def _unread(inv: Inventory) -> dict[str, str]:
    """Images that ``kubefort scan --images`` could not read, by reference (it records them in the
    inventory under ``unread-images``)."""
    return inv.cached("unread-images", dict)


@rule(
    id="KF-VULN-002",
    slug="workload-image-vulnerability",
    title="Workload runs an image with a known vulnerability",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    cross_object=True,
    needs=(KIND,),
    modes=("manifest",),
    params={"images_scanned": False},
    requires="images_scanned",
    rationale="The workload runs the vulnerable package: this is where the risk is deployed, and where the "
    "image reference is upgraded once a fixed image exists.",
    remediation="Point the container at a rebuilt image whose packages are at fixed versions (pinned by "
    "digest), or record in an OpenVEX statement why the image is not affected.",
    refs={"nsa": "NSA/CISA: image hygiene / scanning", "kubescape": ("C-0083", "C-0084", "C-0085")},
)
def workload_image_vulnerability(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    """One finding per container and advisory of its image (``kubefort scan --images``)."""
    image = c.image
    if not isinstance(image, str) or not image.strip():
        return
    index = ctx.inventory.cached("container-images", lambda: _image_index(ctx.inventory))
    obj = index.get(image)
    if obj is None:
        # the engine judges the whole workload: it is not evaluated only when none of its images was
        # read; otherwise the others' findings stand and the scan's notes say which image was not read
        images = [x.image for x in c.pod.containers(ContainerSet.ALL)]
        if not any(isinstance(i, str) and i in index for i in images):
            why = _unread(ctx.inventory).get(image)
            raise NotEvaluated(f"image {image} was not scanned" + (f": {why}" if why else ""))
        return
    by_adv: dict[str, list[Mapping[str, Any]]] = {}
    for v in _vulns(obj).values():
        if isinstance(v, Mapping):
            by_adv.setdefault(str(v.get("id") or ""), []).append(v)
    for adv, items in sorted(by_adv.items()):
        worst = max(items, key=lambda v: _severity(v) or Severity.MEDIUM)
        what = "; ".join(_describe(v) for v in items[:3]) + (f"; and {len(items) - 3} more" if len(items) > 3 else "")
        yield Violation(
            c.at("image"),
            f"{c.label} runs image {image}, which carries {what}",
            severity=_severity(worst),
            subcode=adv or None,
        )


RULES = [image_known_vulnerability, workload_image_vulnerability]
