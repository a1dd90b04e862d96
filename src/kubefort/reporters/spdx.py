"""``-o spdx``: an SPDX 2.3 JSON document of the images in the report, through ``spdx-tools`` (which
validates the document against the specification before writing it): each image a package the
document DESCRIBES, which CONTAINS its operating system and its packages, each with its purl as a
PACKAGE-MANAGER external reference. Vulnerabilities are not part of SPDX 2.3: use ``-o cyclonedx``."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import IO, Any

from .. import __version__
from ..engine.findings import Report
from .cyclonedx import image_objects

_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def spdx_id(*parts: str) -> str:
    return "SPDXRef-" + _ID_CHARS.sub("-", "-".join(parts)).strip("-")


class SpdxReporter:
    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now

    def render(self, report: Report, out: IO[str]) -> None:
        from spdx_tools.spdx.model.actor import Actor, ActorType
        from spdx_tools.spdx.model.document import CreationInfo, Document
        from spdx_tools.spdx.model.package import (
            ExternalPackageRef,
            ExternalPackageRefCategory,
            Package,
            PackagePurpose,
        )
        from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
        from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
        from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

        images = image_objects(report)
        now = (self.now or dt.datetime.now(dt.UTC)).replace(microsecond=0, tzinfo=None)
        names = ",".join(o.name for o in images) or "no images"
        digest = hashlib.sha256(f"{names}|{now.isoformat()}".encode()).hexdigest()[:32]
        info = CreationInfo(
            spdx_version="SPDX-2.3",
            spdx_id="SPDXRef-DOCUMENT",
            name=names if len(names) < 200 else f"{len(images)} images",
            document_namespace=f"https://kubefort.io/spdx/{digest}",
            creators=[Actor(ActorType.TOOL, f"kubefort-{__version__}")],
            created=now,
        )
        packages: list[Package] = []
        rels: list[Relationship] = []
        for n, obj in enumerate(images):
            spec, status = _map(obj.get("spec")), _map(obj.get("status"))
            image_id = spdx_id("Image", str(n))
            packages.append(
                Package(
                    spdx_id=image_id,
                    name=obj.name,
                    download_location=SpdxNoAssertion(),
                    version=str(spec.get("digest") or spec.get("configDigest") or "") or None,
                    files_analyzed=False,
                    primary_package_purpose=PackagePurpose.CONTAINER,
                )
            )
            rels.append(Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, image_id))
            os_info = _map(status.get("os"))
            if os_info.get("id"):
                os_id = spdx_id("Image", str(n), "os")
                packages.append(
                    Package(
                        spdx_id=os_id,
                        name=str(os_info["id"]),
                        download_location=SpdxNoAssertion(),
                        version=str(os_info.get("version") or os_info.get("versionID") or "") or None,
                        files_analyzed=False,
                        primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
                    )
                )
                rels.append(Relationship(image_id, RelationshipType.CONTAINS, os_id))
            for i, p in enumerate(status.get("packages") or []):
                p = _map(p)
                pid = spdx_id("Image", str(n), "Package", str(i), str(p.get("type") or ""), str(p.get("name") or ""))
                refs = []
                if p.get("purl"):
                    refs.append(ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", str(p["purl"])))
                src = _map(p.get("source"))
                packages.append(
                    Package(
                        spdx_id=pid,
                        name=str(p.get("name") or ""),
                        download_location=SpdxNoAssertion(),
                        version=str(p.get("version") or "") or None,
                        files_analyzed=False,
                        source_info=f"built from source package {src['name']} {src.get('version', '')}".strip()
                        if src.get("name")
                        else None,
                        comment=f"found at /{p.get('path')} (layer {p.get('layer')})" if p.get("path") else None,
                        external_references=refs,
                        primary_package_purpose=PackagePurpose.LIBRARY,
                    )
                )
                rels.append(Relationship(image_id, RelationshipType.CONTAINS, pid))
        if not images:  # SPDX wants something described: the (empty) scan itself
            packages.append(
                Package(
                    spdx_id="SPDXRef-Scan",
                    name="kubefort scan (no images)",
                    download_location=SpdxNoAssertion(),
                    files_analyzed=False,
                )
            )
            rels.append(Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, "SPDXRef-Scan"))
        doc = Document(creation_info=info, packages=packages, relationships=rels)
        write_document_to_stream(doc, out, validate=True)
        out.write("\n")
