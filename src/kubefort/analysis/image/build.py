"""One image, read and analysed: the ``ContainerImage`` object the rules judge (see
:mod:`kubefort.model.image` for its shape)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...loading.image import ImageLimits, ImageSource, Platform, RegistryOptions, open_image
from ...model.image import API_VERSION, KIND, image_object
from ...model.objects import K8sObject
from ..vulndb.match import Matcher, VulnMatch
from ..vulndb.store import VulnDB
from ..vulndb.vex import VexStatement, apply_vex
from .inventory import ImageInventory, read_inventory

#: the image config fields kept (the rest, e.g. OnBuild or ArgsEscaped, say nothing rules judge)
_CONFIG_KEYS = (
    "User",
    "Env",
    "ExposedPorts",
    "Healthcheck",
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "Labels",
    "Volumes",
    "StopSignal",
    "Shell",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageAnalysisOptions:
    """How images are read and judged."""

    registry: RegistryOptions = field(default_factory=RegistryOptions)
    platform: Platform | None = None
    limits: ImageLimits = field(default_factory=ImageLimits)
    secrets: bool = True  # scan layer files for credentials


def _layers(src: ImageSource) -> list[dict[str, Any]]:
    history = src.config.get("history")
    history = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    steps = [h for h in history if not h.get("empty_layer")]
    out = []
    for blob in src.layers:
        entry: dict[str, Any] = {"digest": blob.digest, "diffID": blob.diff_id, "size": blob.size}
        if blob.index < len(steps):
            entry["createdBy"] = str(steps[blob.index].get("created_by") or "")
        out.append(entry)
    return out


def image_raw(
    src: ImageSource,
    inv: ImageInventory,
    matches: Sequence[VulnMatch],
    *,
    reference: str | None = None,
) -> dict[str, Any]:
    """The ``ContainerImage`` document of an analysed image."""
    cfg = src.config.get("config")
    cfg = cfg if isinstance(cfg, Mapping) else {}
    history = src.config.get("history")
    vulns: dict[str, Any] = {}
    for m in matches:
        key = m.key
        n = 2
        while key in vulns:  # the same package at two paths
            key = f"{m.key} #{n}"
            n += 1
        vulns[key] = m.to_raw()
    layer_digests = [b.diff_id or b.digest for b in src.layers]
    packages = []
    for p in inv.packages:
        raw = p.to_raw()
        if p.layer is not None and p.layer < len(layer_digests):
            raw["layerDigest"] = layer_digests[p.layer]
        packages.append(raw)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": reference or src.name},
        "spec": {
            "reference": reference if reference is not None else src.reference,
            "transport": src.transport,
            "source": src.name,
            "digest": src.manifest_digest,
            "configDigest": src.config_digest,
            "platform": src.platform,
        },
        "status": {
            "config": {k: cfg[k] for k in _CONFIG_KEYS if k in cfg},
            "history": [h for h in history if isinstance(h, dict)] if isinstance(history, list) else [],
            "layers": _layers(src),
            "os": inv.os.to_raw(),
            "packages": packages,
            "vulnerabilities": vulns,
            "secrets": [s.to_raw() for s in inv.secrets],
            "notes": list(inv.notes),
        },
    }


def analyse_image(
    text: str,
    options: ImageAnalysisOptions,
    *,
    db: VulnDB | None = None,
    vex: Sequence[VexStatement] = (),
    reference: str | None = None,
) -> K8sObject:
    """Read the image ``text`` names, list what it holds, match it against ``db`` (when given), apply
    the VEX statements, and return the object the rules judge. Raises LoadError when it cannot be read
    (or is refused as hostile). ``reference``: the name a workload gives it, when read from elsewhere."""
    with open_image(text, registry=options.registry, platform=options.platform, limits=options.limits) as src:
        inv = read_inventory(src, limits=options.limits, scan_secrets=options.secrets)
        matches: list[VulnMatch] = Matcher(db).match(inv.packages, inv.os) if db is not None else []
        if vex:
            ids = [reference or "", src.reference, src.name, src.manifest_digest or "", src.config_digest or ""]
            matches = apply_vex(matches, vex, ids)
        raw = image_raw(src, inv, matches, reference=reference)
    return image_object(raw, reference or text)
