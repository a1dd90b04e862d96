"""The report CRDs kubefort writes (vendored in tests/fixtures/report-crds, see its README), and their
``openAPIV3Schema`` as JSON Schema.

Two readings of one schema, as the API server has them:

- :func:`json_schema` (``strict=True``): every object that declares ``properties`` and no
  ``additionalProperties`` accepts no other field. The API server does not refuse unknown fields of a
  structural schema, it *prunes* them silently (a field kubefort writes that the CRD does not know
  would be lost), so the reporter tests hold the documents to the strict reading;
- :func:`prune`: what the test API server stores, as a real one does (unknown fields dropped).

``x-kubernetes-*`` extensions and ``format`` are not JSON Schema keywords that constrain here (the
validator ignores them); ``nullable`` is mapped to a ``null`` type.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CRD_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "report-crds"
FILES = (
    "openreports.io_reports.yaml",
    "openreports.io_clusterreports.yaml",
    "wgpolicyk8s.io_policyreports.yaml",
    "wgpolicyk8s.io_clusterpolicyreports.yaml",
)


@cache
def report_crds() -> tuple[dict[str, Any], ...]:
    out = []
    for name in FILES:
        docs = [d for d in yaml.safe_load_all((CRD_DIR / name).read_text()) if d]
        out.extend(docs)
    return tuple(out)


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The ``openAPIV3Schema`` a vendored CRD declares for ``apiVersion``/``kind``."""
    group, _, version = api_version.rpartition("/")
    for crd in report_crds():
        spec = crd["spec"]
        if spec["group"] == group and spec["names"]["kind"] == kind:
            for v in spec["versions"]:
                if v["name"] == version:
                    return dict(v["schema"]["openAPIV3Schema"])
    raise KeyError(f"no vendored CRD for {api_version} {kind}")


def json_schema(schema: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "properties":
            out[k] = {name: json_schema(sub, strict=strict) for name, sub in v.items()}
        elif k in ("items", "additionalProperties") and isinstance(v, Mapping):
            out[k] = json_schema(v, strict=strict)
        elif k == "nullable" or k.startswith("x-kubernetes-") or k == "description":
            continue
        else:
            out[k] = v
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if strict and "properties" in schema and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


def prune(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` less the fields ``schema`` does not declare (structural pruning); ``metadata`` is the
    API server's own and kept as sent."""
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is None and isinstance(extra, Mapping):
            return {k: prune(v, extra) for k, v in value.items()}
        if props is None:
            return value
        return {k: v if k == "metadata" else prune(v, props[k]) for k, v in value.items() if k in props}
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [prune(v, schema["items"]) for v in value]
    return value


def validation_errors(doc: Mapping[str, Any], *, strict: bool = True) -> list[str]:
    """What the CRD schema of ``doc``'s kind says is wrong with it (path: message), [] when valid."""
    import jsonschema

    schema = json_schema(crd_schema(str(doc["apiVersion"]), str(doc["kind"])), strict=strict)
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)
    )
