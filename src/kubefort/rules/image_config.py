"""OCI rules: what a container image itself says (its config, its build history, its layer files),
judged on ``ContainerImage`` objects (:mod:`kubefort.model.image`) made by ``kubefort image scan``
and ``kubefort scan --images``. Secret values are never put in a message: only which variable, file
or history step holds one, and which detector fired."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..analysis import secretscan
from ..engine.rule import Context, Scope, Severity, Violation, rule
from ..model.image import KIND, is_container_image
from ..model.objects import K8sObject

KINDS = (KIND,)
#: image scans and manifest scans (scan --images, fixtures); never admission: no API object is one
MODES = ("manifest", "image")
_ROOT_USERS = frozenset({"", "root", "0"})
_ADD_URL = re.compile(r"(?:^|\s|#\(nop\)\s+)ADD\s+(?:--[\w-]+(?:=\S+)?\s+)*(?:file:\S+\s+in\s+)?(https?://\S+)", re.I)


def _config(obj: K8sObject) -> Mapping[str, Any]:
    cfg = obj.get("status", "config")
    return cfg if isinstance(cfg, Mapping) else {}


def _history(obj: K8sObject) -> list[Any]:
    h = obj.get("status", "history")
    return h if isinstance(h, list) else []


def _image(obj: K8sObject) -> str:
    return obj.name


@rule(
    id="KF-OCI-001",
    slug="image-runs-as-root",
    title="Image runs as root by default",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_container_image,
    modes=MODES,
    rationale="An image whose config names no user, or user 0, runs its process as root unless every workload "
    "overrides it; a compromised process then owns the container's files and is one kernel bug away from the node.",
    remediation="Create an unprivileged user in the image and end the Dockerfile with USER <uid> (numeric, so "
    "runAsNonRoot can verify it).",
    refs={"trivy": "DS-0002", "checkov": "CKV_DOCKER_8", "hadolint": "DL3002"},
)
def image_runs_as_root(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    user = _config(obj).get("User")
    text = str(user or "").strip()
    name = text.split(":", 1)[0]
    if name in _ROOT_USERS:
        why = "names no user (root)" if not text else f'runs as user "{text}" (root)'
        yield Violation(("status", "config", "User"), f"image {_image(obj)} {why}")


def _env_items(cfg: Mapping[str, Any]) -> Iterator[tuple[int, str, str]]:
    env = cfg.get("Env")
    for i, item in enumerate(env if isinstance(env, list) else []):
        if isinstance(item, str) and "=" in item:
            name, _, value = item.partition("=")
            yield i, name, value


@rule(
    id="KF-OCI-002",
    slug="image-secret-in-config",
    title="Secret in the image environment or build history",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_container_image,
    modes=MODES,
    rationale="ENV values and build arguments are stored in the image config and history: anyone who can pull "
    "the image reads them with docker history or docker inspect, in every registry and cache it reaches.",
    remediation="Pass secrets at run time (a mounted Secret, a secret store) or at build time with BuildKit "
    "secret mounts (RUN --mount=type=secret); rotate the exposed value.",
    refs={"trivy": "DS-0031"},
)
def image_secret_in_config(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, name, value in _env_items(_config(obj)):
        env_reasons = secretscan.env_literal_reasons(name, value)
        if env_reasons:
            yield Violation(
                ("status", "config", "Env", i),
                f'environment variable "{name}" of image {_image(obj)} holds a secret ({secretscan.describe(env_reasons)})',
            )
    for i, step in enumerate(_history(obj)):
        created_by = step.get("created_by") if isinstance(step, Mapping) else None
        if not isinstance(created_by, str) or not created_by:
            continue
        # ENV steps are the config's own variables (reported above); build args and RUN lines are not
        if re.search(r"(?:^|#\(nop\)\s+)ENV\s", created_by):
            continue
        found = secretscan.scan_command_line([created_by])
        if found:
            reasons = [r for rs in found.values() for r in rs]
            yield Violation(
                ("status", "history", i, "created_by"),
                f"build step {i} of image {_image(obj)} holds a secret ({secretscan.describe(reasons)})",
            )


@rule(
    id="KF-OCI-003",
    slug="image-add-from-url",
    title="Image built with ADD from a remote URL",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_container_image,
    modes=MODES,
    rationale="ADD <url> downloads whatever the server returns at build time, unverified and unpinned: a "
    "compromised or changed server puts its content into the image.",
    remediation="Download in a RUN step with a pinned checksum (curl -fsSLo f URL && echo 'SHA256  f' | "
    "sha256sum -c), or use ADD --checksum=sha256:...; prefer COPY for local files.",
    refs={"trivy": "DS-0005", "hadolint": "DL3020"},
)
def image_add_from_url(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, step in enumerate(_history(obj)):
        created_by = step.get("created_by") if isinstance(step, Mapping) else None
        if isinstance(created_by, str) and "--checksum" not in created_by:
            m = _ADD_URL.search(created_by)
            if m:
                url = m.group(1).split("?", 1)[0]
                yield Violation(
                    ("status", "history", i, "created_by"),
                    f"build step {i} of image {_image(obj)} ADDs {url} without a checksum",
                )


@rule(
    id="KF-OCI-004",
    slug="image-exposes-ssh",
    title="Image exposes the SSH port",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_container_image,
    modes=MODES,
    rationale="An image exposing port 22 usually runs an SSH server: one more way in, with its own credentials "
    "to manage, where kubectl exec and ephemeral debug containers already give audited access.",
    remediation="Remove EXPOSE 22 and the SSH server from the image; use kubectl exec or kubectl debug.",
    refs={"trivy": "DS-0004", "checkov": "CKV_DOCKER_1"},
)
def image_exposes_ssh(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    ports = _config(obj).get("ExposedPorts")
    if isinstance(ports, Mapping):
        for port in ports:
            if str(port).split("/", 1)[0] == "22" and str(port).partition("/")[2] in ("", "tcp"):
                yield Violation(
                    ("status", "config", "ExposedPorts", port), f"image {_image(obj)} exposes port 22 (SSH)"
                )


@rule(
    id="KF-OCI-005",
    slug="image-no-healthcheck",
    title="Image defines no health check",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_container_image,
    modes=MODES,
    rationale="Without a HEALTHCHECK, runtimes other than Kubernetes (and a reviewer) cannot tell a hung "
    "process from a healthy one; in Kubernetes the liveness and readiness probes play that part.",
    remediation="Add a HEALTHCHECK to the Dockerfile, or make sure every workload running the image defines "
    "liveness and readiness probes.",
    refs={"trivy": "DS-0026", "checkov": "CKV_DOCKER_2"},
)
def image_no_healthcheck(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    cfg = _config(obj)
    hc = cfg.get("Healthcheck")
    test = hc.get("Test") if isinstance(hc, Mapping) else None
    if not isinstance(test, list) or not test or test[0] == "NONE":
        why = "disables its health check" if isinstance(test, list) and test[:1] == ["NONE"] else "has no health check"
        yield Violation(("status", "config", "Healthcheck"), f"image {_image(obj)} {why}")


@rule(
    id="KF-OCI-006",
    slug="image-secret-in-layer",
    title="Credential stored in an image layer file",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_container_image,
    modes=MODES,
    rationale="A private key, cloud credential or token in a layer ships with every copy of the image; deleting "
    "the file in a later layer does not remove it, since every layer is still downloaded and readable.",
    remediation="Remove the file from the layer that added it (rebuild without it, use a .dockerignore and "
    "BuildKit secret mounts), and rotate the credential.",
    refs={"trivy": "DS-0031"},
)
def image_secret_in_layer(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    found = obj.get("status", "secrets")
    for i, s in enumerate(found if isinstance(found, list) else []):
        if not isinstance(s, Mapping):
            continue
        where = f"/{s.get('path')}"
        if s.get("line"):
            where += f":{s.get('line')}"
        removed = ", deleted by a later layer but still in the image" if s.get("removed") else ""
        detectors = [str(d) for d in s.get("detectors") or []]
        yield Violation(
            ("status", "secrets", i),
            f"file {where} (layer {s.get('layer')}{removed}) holds a credential ({secretscan.describe(detectors)})",
        )


RULES = [
    image_runs_as_root,
    image_secret_in_config,
    image_add_from_url,
    image_exposes_ssh,
    image_no_healthcheck,
    image_secret_in_layer,
]
