"""``-o cyclonedx``: a CycloneDX 1.6 JSON SBOM of the images in the report (``kubefort image scan``,
``kubefort scan --images``), through ``cyclonedx-python-lib``: each image a ``container`` component,
its operating system and packages (with purls) as components depending on it, and the KF-VULN-001
findings as vulnerabilities (ratings from the advisory; a VEX-suppressed finding's analysis says
``not_affected``). Only formats: the packages and matches come from the ContainerImage objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import IO, Any

from .. import __version__
from ..engine.findings import Report
from ..model.image import is_container_image
from ..model.objects import K8sObject


def image_objects(report: Report) -> list[K8sObject]:
    inv = report.inventory
    objects: Iterable[K8sObject] = inv.objects if inv is not None else ()
    return [o for o in objects if is_container_image(o)]


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


class CycloneDxReporter:
    def render(self, report: Report, out: IO[str]) -> None:
        from cyclonedx.model import Property
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
        from cyclonedx.model.tool import Tool
        from cyclonedx.model.vulnerability import (
            BomTarget,
            Vulnerability,
            VulnerabilityAnalysis,
            VulnerabilityRating,
            VulnerabilityScoreSource,
            VulnerabilitySeverity,
            VulnerabilitySource,
        )
        from cyclonedx.output.json import JsonV1Dot6
        from packageurl import PackageURL

        bom = Bom()
        bom.metadata.tools.tools.add(Tool(vendor="kubefort", name="kubefort", version=__version__))
        images = image_objects(report)
        refs: dict[tuple[str, str], str] = {}  # (image, vulnerabilities key) -> component bom-ref
        roots = []
        for n, obj in enumerate(images):
            spec, status = _map(obj.get("spec")), _map(obj.get("status"))
            image_ref = f"image-{n}"
            image = Component(
                type=ComponentType.CONTAINER,
                name=obj.name,
                version=str(spec.get("digest") or spec.get("configDigest") or "") or None,
                bom_ref=image_ref,
                properties=[
                    Property(name="kubefort:image:transport", value=str(spec.get("transport") or "")),
                    Property(name="kubefort:image:platform", value=str(spec.get("platform") or "")),
                ],
            )
            roots.append(image)
            children = []
            os_info = _map(status.get("os"))
            if os_info.get("id"):
                osc = Component(
                    type=ComponentType.OPERATING_SYSTEM,
                    name=str(os_info["id"]),
                    version=str(os_info.get("version") or os_info.get("versionID") or "") or None,
                    bom_ref=f"{image_ref}-os",
                )
                bom.components.add(osc)
                children.append(osc)
            by_purl: dict[str, str] = {}
            for i, p in enumerate(status.get("packages") or []):
                p = _map(p)
                purl_text = str(p.get("purl") or "")
                ref = f"{image_ref}-pkg-{i}"
                by_purl.setdefault(purl_text, ref)
                props = [Property(name="kubefort:package:type", value=str(p.get("type") or ""))]
                if p.get("path"):
                    props.append(Property(name="kubefort:package:path", value=str(p["path"])))
                if p.get("layer") is not None:
                    props.append(Property(name="kubefort:package:layer", value=str(p["layer"])))
                src = _map(p.get("source"))
                if src.get("name"):
                    props.append(
                        Property(
                            name="kubefort:package:source", value=f"{src['name']} {src.get('version', '')}".strip()
                        )
                    )
                try:
                    purl = PackageURL.from_string(purl_text) if purl_text else None
                except ValueError:
                    purl = None
                c = Component(
                    type=ComponentType.LIBRARY,
                    name=str(p.get("name") or ""),
                    version=str(p.get("version") or "") or None,
                    purl=purl,
                    bom_ref=ref,
                    properties=props,
                )
                bom.components.add(c)
                children.append(c)
            bom.register_dependency(image, children)
            for key, v in _map(status.get("vulnerabilities")).items():
                pkg = _map(_map(v).get("package"))
                refs[(obj.name, str(key))] = by_purl.get(str(pkg.get("purl") or ""), image_ref)
        if len(roots) == 1:
            bom.metadata.component = roots[0]
        else:
            for r in roots:
                bom.components.add(r)
        for f in report.findings:
            if f.rule.id != "KF-VULN-001" or len(f.path) < 3:
                continue
            found = next((o for o in images if o.ref == f.object), None)
            if found is None:
                continue
            obj = found
            v = _map(obj.get(*f.path))
            key = str(f.path[2])
            ratings = []
            sev = {
                "critical": VulnerabilitySeverity.CRITICAL,
                "high": VulnerabilitySeverity.HIGH,
                "medium": VulnerabilitySeverity.MEDIUM,
                "low": VulnerabilitySeverity.LOW,
            }.get(str(v.get("severity")), VulnerabilitySeverity.UNKNOWN)
            vector = str(v.get("cvss") or "")
            method = None
            if vector.startswith("CVSS:4"):
                method = VulnerabilityScoreSource.CVSS_V4
            elif vector.startswith("CVSS:3.1"):
                method = VulnerabilityScoreSource.CVSS_V3_1
            elif vector.startswith("CVSS:3"):
                method = VulnerabilityScoreSource.CVSS_V3
            score = v.get("score")
            ratings.append(
                VulnerabilityRating(
                    score=Decimal(str(score)) if isinstance(score, (int, float)) else None,
                    severity=sev,
                    method=method,
                    vector=vector or None,
                )
            )
            analysis = None
            vex = _map(v.get("vex"))
            if f.suppressed:
                state = ImpactAnalysisState.NOT_AFFECTED if vex.get("status") == "not_affected" else None
                if vex.get("status") == "fixed":
                    state = ImpactAnalysisState.RESOLVED
                just = {
                    "component_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
                    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
                    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
                    "vulnerable_code_cannot_be_controlled_by_adversary": ImpactAnalysisJustification.PROTECTED_AT_RUNTIME,
                    "inline_mitigations_already_exist": ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL,
                }.get(str(vex.get("justification") or ""))
                analysis = VulnerabilityAnalysis(state=state, justification=just, detail=f.suppression or None)
            bom.vulnerabilities.add(
                Vulnerability(
                    bom_ref=f"{refs.get((obj.name, key), 'image')}#{v.get('id')}",
                    id=str(v.get("id") or ""),
                    source=VulnerabilitySource(name="OSV"),
                    description=str(v.get("summary") or "") or None,
                    recommendation=("upgrade to " + " or ".join(str(x) for x in v.get("fixed") or []))
                    if v.get("fixed")
                    else None,
                    ratings=ratings,
                    analysis=analysis,
                    affects=[BomTarget(ref=refs.get((obj.name, key), "image-0"))],
                    properties=[Property(name="kubefort:alias", value=str(a)) for a in v.get("aliases") or []],
                )
            )
        out.write(JsonV1Dot6(bom).output_as_string(indent=2))
        out.write("\n")
