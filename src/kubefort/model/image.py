"""``ContainerImage``: what ``kubefort image scan`` found in one image, as a Kubernetes-shaped object,
so the rule engine judges it like any other object (suppressions, ``--min-severity``, baselines,
every reporter) and rules need nothing from the image reader.

``kubefort.analysis.image`` makes one per image; a YAML file of the same shape loads as well (the rule
tests do that). The config and history are the image config's own (Docker/OCI field names); every
field may be missing when read::

    apiVersion: kubefort.io/v1alpha1
    kind: ContainerImage
    metadata:
      name: registry.example.com/team/app:1.2   # the image as given (reference or file)
    spec:
      reference: registry.example.com/team/app:1.2   # as a workload names it ("" for an untagged archive)
      transport: registry                      # registry | docker-archive | oci-layout | oci-archive
      digest: sha256:...                       # manifest digest, when known
      configDigest: sha256:...                 # the image ID
      platform: linux/amd64
    status:
      config: {User: "", Env: [...], ExposedPorts: {"22/tcp": {}}, Healthcheck: {...}, Cmd: [...], ...}
      history: [{created: ..., created_by: "...", empty_layer: true}, ...]
      layers: [{digest: sha256:..., diffID: sha256:..., size: 1234, createdBy: "..."}]
      os: {id: debian, versionID: "12", version: "12.15", name: ..., prettyName: ...}
      packages:                                # installed packages, each with its package URL
        - {name: libssl3, version: 3.0.11-1~deb12u2, type: deb, purl: pkg:deb/debian/libssl3@...,
           source: {name: openssl, version: 3.0.11-1~deb12u2}, arch: amd64,
           path: var/lib/dpkg/status, layer: 0}
      vulnerabilities:                         # known advisories of the packages, keyed "<ID> <package>"
        "CVE-2024-0727 deb:libssl3@3.0.11-1~deb12u2":
          id: CVE-2024-0727                    # the advisory as the database names it (DSA-..., GHSA-...)
          aliases: [CVE-2024-0727]
          package: {name: libssl3, version: 3.0.11-1~deb12u2, type: deb, purl: ..., layer: 0}
          fixed: [3.0.13-1~deb12u1]            # the versions that fix it ([] when none is known)
          severity: medium                     # critical | high | medium | low | unknown
          score: 5.5                           # CVSS base score when the advisory gives a vector
          cvss: "CVSS:3.1/AV:L/..."
          summary: "..."
          vex: {status: not_affected, justification: vulnerable_code_not_in_execute_path, document: vex.json}
      secrets:                                 # files of the layers holding credentials (never their values)
        - {path: app/.env, layer: 2, line: 3, detectors: ["AWS access key"], removed: false}
      notes: ["..."]                           # what could not be read

Findings point at ``status.config.User``, ``status.config.Env[i]``, ``status.history[i].created_by``,
``status.config.ExposedPorts["22/tcp"]``, ``status.secrets[i]`` and ``status.vulnerabilities[KEY]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .objects import K8sObject, Source

API_VERSION = "kubefort.io/v1alpha1"
KIND = "ContainerImage"


def is_container_image(obj: K8sObject) -> bool:
    return obj.kind == KIND and obj.api_version == API_VERSION


def image_object(raw: Mapping[str, Any], where: str) -> K8sObject:
    """The object the engine judges, located at ``where`` (the image as given: no file lines)."""
    return K8sObject.from_raw(raw, Source(file=where), cluster_scoped=True)


def image_references(obj: K8sObject) -> tuple[str, ...]:
    """The references a workload may name this image by: the reference, the name, ``name@digest``."""
    spec = obj.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    refs = [str(v) for v in (spec.get("reference"), obj.name) if isinstance(v, str) and v]
    digest = spec.get("digest")
    if isinstance(digest, str) and digest:
        for r in list(refs):
            base = r.split("@", 1)[0]
            refs.append(f"{base}@{digest}")
    return tuple(dict.fromkeys(refs))
