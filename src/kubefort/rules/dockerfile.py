"""DOCKER rules: Dockerfiles, judged on ``Dockerfile`` objects (:mod:`kubefort.model.dockerfile`) that
``kubefort scan`` makes of every Dockerfile it meets (and ``kubefort dockerfile lint``). The base-image
rules take the same parameters as the manifest image rules (``allowed_registries``,
``blocked_registries``, ``digest_exempt_repos``): one setting governs both. Secret values are never
put in a message."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..analysis import secretscan
from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.dockerfile import KIND, is_dockerfile
from ..model.images import ImageRef, parse_image
from ..model.objects import K8sObject
from .images import DEFAULT_BLOCKED_REGISTRIES, covered, mutable_tag_reason, registry_prefixes

NSA = "NSA/CISA: image hygiene / scanning"
KINDS = (KIND,)
#: manifest scans (and dockerfile lint); never admission: no API object is a Dockerfile
MODES = ("manifest",)
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+][^}]*)?\}|([A-Za-z_][A-Za-z0-9_]*))")
_ARCHIVE = re.compile(r"\.(?:tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|tzst|gz|bz2|xz)$", re.I)
_URL = re.compile(r"^(?:https?|git)://|^git@|\.git(?:#|$)", re.I)
_PIPE_TO_SHELL = re.compile(
    r"\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:/usr)?(?:/bin/)?(?:ba|z|da|k)?sh\b"
    r"|\b(?:ba|z|da)?sh\s+-c\s+[\"']?\$\((?:curl|wget)\b"
    r"|\b(?:ba|z|da)?sh\s+<\(\s*(?:curl|wget)\b",
)


def _instructions(obj: K8sObject) -> list[Mapping[str, Any]]:
    ins = obj.get("spec", "instructions")
    return [i for i in ins if isinstance(i, Mapping)] if isinstance(ins, list) else []


def _stage_names(obj: K8sObject) -> set[str]:
    stages = obj.get("spec", "stages")
    return {str(s.get("name")).lower() for s in stages or [] if isinstance(s, Mapping) and s.get("name")}


def _base_images(obj: K8sObject) -> Iterator[tuple[int, str, ImageRef]]:
    """(instruction index, image as written, parsed image) of each FROM that names an image: not an
    earlier stage, not ``scratch``; build arguments replaced by their defaults. A FROM whose arguments
    have no default cannot be judged."""
    args = obj.get("spec", "args")
    args = args if isinstance(args, Mapping) else {}
    stages = _stage_names(obj)
    unresolved = []
    judged = 0
    for i, ins in enumerate(_instructions(obj)):
        if ins.get("instruction") != "FROM":
            continue
        words = ins.get("args") or []
        if not words:
            continue
        image = str(words[0])
        missing = [m.group(1) or m.group(2) for m in _VAR.finditer(image) if not args.get(m.group(1) or m.group(2))]
        if missing:
            unresolved.append(f"FROM {image} (build argument {', '.join(missing)} has no default)")
            continue
        resolved = _VAR.sub(lambda m: str(args.get(m.group(1) or m.group(2), "")), image)
        if resolved.lower() in stages or resolved.lower() == "scratch":
            continue
        judged += 1
        yield i, resolved, parse_image(resolved)
    if unresolved and not judged:
        raise NotEvaluated("; ".join(unresolved))


@rule(
    id="KF-DOCKER-001",
    slug="dockerfile-root-user",
    title="Dockerfile does not switch to a non-root user",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="The final stage's last USER is the user the container runs as: without one (or with root) the "
    "process runs as root unless every workload overrides it.",
    remediation="Create an unprivileged user and end the final stage with USER <uid> (numeric, so "
    "runAsNonRoot can verify it).",
    refs={"trivy": "DS-0002", "checkov": ("CKV_DOCKER_3", "CKV_DOCKER_8"), "hadolint": "DL3002", "nsa": NSA},
)
def dockerfile_root_user(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    ins = _instructions(obj)
    stages = obj.get("spec", "stages")
    if not isinstance(stages, list) or not stages or not isinstance(stages[-1], Mapping):
        return
    final = len(stages) - 1
    first = stages[-1].get("instruction")
    last_user = None
    for i, x in enumerate(ins):
        if x.get("stage") == final and x.get("instruction") == "USER":
            last_user = i
    if last_user is None:
        if isinstance(first, int):
            yield Violation(("spec", "instructions", first), "the final stage sets no USER: the image runs as root")
        return
    words = ins[last_user].get("args") or [""]
    user = str(words[0]).split(":", 1)[0]
    if user in ("root", "0"):
        yield Violation(("spec", "instructions", last_user), f'the final stage runs as "{words[0]}" (root)')


@rule(
    id="KF-DOCKER-002",
    slug="dockerfile-from-mutable-tag",
    title="Base image uses a mutable or missing tag",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="FROM image or FROM image:latest builds on whatever the tag points to that day: builds are not "
    "reproducible and a compromised or broken upstream push lands unnoticed.",
    remediation="Name a specific version tag, ideally with its digest (FROM image:1.2.3@sha256:...).",
    refs={"trivy": "DS-0001", "checkov": "CKV_DOCKER_7", "hadolint": ("DL3006", "DL3007"), "nsa": NSA},
)
def dockerfile_from_mutable_tag(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, image, ref in _base_images(obj):
        why = mutable_tag_reason(ref)
        if why:
            yield Violation(("spec", "instructions", i), f"base image {image} {why}")


@rule(
    id="KF-DOCKER-003",
    slug="dockerfile-from-no-digest",
    title="Base image not pinned by digest",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    params={"digest_exempt_repos": []},
    rationale="A tag can be moved to other content; only a digest names exactly the base image that was "
    "reviewed and scanned.",
    remediation="Add the digest to FROM (image:tag@sha256:...) and let a bot (Renovate, Dependabot) update it.",
    refs={"nsa": NSA},
)
def dockerfile_from_no_digest(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    exempt = [parse_image(str(e)).name for e in ctx.param("digest_exempt_repos") or [] if str(e).strip()]
    for i, image, ref in _base_images(obj):
        if not ref.has_valid_digest and not covered(ref, exempt):
            yield Violation(("spec", "instructions", i), f"base image {image} is not pinned by digest")


@rule(
    id="KF-DOCKER-004",
    slug="dockerfile-from-unlisted-registry",
    title="Base image from a registry outside the allow-list",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    params={"allowed_registries": []},
    requires="allowed_registries",
    rationale="Base images from registries nobody vetted bypass the organisation's supply-chain controls "
    "(mirroring, scanning, signing).",
    remediation="Pull the base image through an allowed registry (a mirror or your own), or add the registry to "
    "allowed_registries after review.",
    refs={"hadolint": "DL3026", "nsa": NSA},
)
def dockerfile_from_unlisted_registry(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    allowed = registry_prefixes(ctx.param("allowed_registries"))
    for i, image, ref in _base_images(obj):
        if not covered(ref, allowed):
            yield Violation(
                ("spec", "instructions", i), f"base image {image} is from {ref.registry}, not an allowed registry"
            )


@rule(
    id="KF-DOCKER-005",
    slug="dockerfile-from-public-registry",
    title="Base image from a public or blocked registry",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    params={"blocked_registries": list(DEFAULT_BLOCKED_REGISTRIES), "allowed_registries": []},
    rationale="Public registries serve whatever their publishers push, rate-limit pulls and have hosted "
    "malicious look-alike images; builds should pull vetted copies.",
    remediation="Mirror the base image into your own registry and build FROM the mirror.",
    refs={"nsa": NSA},
)
def dockerfile_from_public_registry(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    allowed = registry_prefixes(ctx.param("allowed_registries"))
    blocked = registry_prefixes(ctx.param("blocked_registries"))
    for i, image, ref in _base_images(obj):
        if covered(ref, allowed):
            continue
        hit = covered(ref, blocked)
        if hit:
            yield Violation(("spec", "instructions", i), f"base image {image} comes from the public registry {hit}")


def _add_sources(ins: Mapping[str, Any]) -> list[str]:
    args = [str(a) for a in ins.get("args") or []]
    return args[:-1] if len(args) >= 2 else []


@rule(
    id="KF-DOCKER-006",
    slug="dockerfile-add-instead-of-copy",
    title="ADD used where COPY would do",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="ADD also extracts archives and fetches URLs; for plain files COPY says what happens, and a "
    "file that later turns into an archive is not silently unpacked.",
    remediation="Use COPY for local files and directories; keep ADD for archives it should extract.",
    refs={"trivy": "DS-0005", "checkov": "CKV_DOCKER_4", "hadolint": "DL3020", "nsa": NSA},
)
def dockerfile_add_instead_of_copy(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, ins in enumerate(_instructions(obj)):
        if ins.get("instruction") != "ADD" or ins.get("heredocs"):
            continue
        local = [s for s in _add_sources(ins) if not _URL.search(s) and not _ARCHIVE.search(s)]
        if local:
            yield Violation(("spec", "instructions", i), f"ADD {' '.join(local)}: use COPY for local files")


@rule(
    id="KF-DOCKER-007",
    slug="dockerfile-add-from-url",
    title="ADD downloads a remote URL without a checksum",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="ADD <url> puts whatever the server returns into the image, unverified: a compromised or changed "
    "server changes the image without any change to the Dockerfile.",
    remediation="Add --checksum=sha256:<hex> to the ADD, or download in a RUN step that verifies a pinned checksum.",
    refs={"nsa": NSA},
)
def dockerfile_add_from_url(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, ins in enumerate(_instructions(obj)):
        if ins.get("instruction") != "ADD" or "checksum" in (ins.get("flags") or {}):
            continue
        urls = [s for s in _add_sources(ins) if re.match(r"^https?://", s, re.I)]
        if urls:
            yield Violation(
                ("spec", "instructions", i),
                f"ADD downloads {', '.join(u.split('?', 1)[0] for u in urls)} without a checksum",
            )


def _run_text(ins: Mapping[str, Any]) -> str:
    args = [str(a) for a in ins.get("args") or []]
    return " ".join(args) + "".join("\n" + h for h in ins.get("heredocs") or [])


@rule(
    id="KF-DOCKER-008",
    slug="dockerfile-pipe-to-shell",
    title="RUN pipes a downloaded script into a shell",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="curl ... | sh runs whatever the server sends, as root, during the build, with nothing to "
    "check it against: a compromised host or a network attacker owns the image.",
    remediation="Download the script to a file, verify a pinned checksum or signature, then run it; better, "
    "install the tool from a package repository or a verified release archive.",
    refs={"nsa": NSA},
)
def dockerfile_pipe_to_shell(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, ins in enumerate(_instructions(obj)):
        if ins.get("instruction") == "RUN" and _PIPE_TO_SHELL.search(_run_text(ins)):
            yield Violation(("spec", "instructions", i), "RUN pipes a downloaded script into a shell")


@rule(
    id="KF-DOCKER-009",
    slug="dockerfile-secret-in-env-arg",
    title="Secret in an ENV or ARG instruction",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="ENV values and ARG defaults (and build arguments passed for them) are stored in the image "
    "config and history, readable by anyone who can pull the image; in the Dockerfile they are in the "
    "repository too.",
    remediation="Use BuildKit secret mounts (RUN --mount=type=secret,id=...) for build-time secrets and a "
    "Kubernetes Secret at run time; rotate the exposed value.",
    refs={"trivy": "DS-0031", "nsa": NSA},
)
def dockerfile_secret_in_env_arg(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, ins in enumerate(_instructions(obj)):
        kind = ins.get("instruction")
        if kind not in ("ENV", "ARG"):
            continue
        words = [str(a) for a in ins.get("args") or []]
        pairs: list[tuple[str, str]] = []
        if kind == "ENV" and len(words) >= 2 and "=" not in words[0]:
            pairs.append((words[0], " ".join(words[1:])))  # legacy ENV NAME value
        else:
            pairs += [(w.partition("=")[0], w.partition("=")[2]) for w in words if "=" in w]
        for name, value in pairs:
            reasons = secretscan.env_literal_reasons(name, value)
            if reasons and not secretscan.is_var_reference(value.strip("${}")) and "$" not in value[:1]:
                yield Violation(
                    ("spec", "instructions", i),
                    f'{kind} "{name}" holds a secret ({secretscan.describe(reasons)})',
                )


_APT_INSTALL = re.compile(r"\bapt(?:-get)?\s+(?:-\S+\s+)*install\b")
_APK_ADD = re.compile(r"\bapk\s+(?:-\S+\s+)*add\b")
_PIP_INSTALL = re.compile(r"\bpip[0-9.]*\s+(?:-\S+\s+)*install\b")
_YUM = re.compile(r"\b(yum|dnf|microdnf|zypper)\s+(?:-\S+\s+)*(?:install|in)\b")


@rule(
    id="KF-DOCKER-010",
    slug="dockerfile-package-manager-hygiene",
    title="Package manager leaves caches or unwanted packages in the image",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=KINDS,
    applies=is_dockerfile,
    modes=MODES,
    rationale="Package indexes and caches left in a layer bloat the image and ship stale metadata; recommended "
    "packages add code nobody asked for, each a possible vulnerability.",
    remediation="In the same RUN: apt-get install --no-install-recommends ... && rm -rf /var/lib/apt/lists/*; "
    "apk add --no-cache; pip install --no-cache-dir; yum/dnf ... && yum/dnf clean all.",
    refs={
        "trivy": ("DS-0015", "DS-0019", "DS-0025", "DS-0029"),
        "hadolint": ("DL3009", "DL3015", "DL3019", "DL3032", "DL3040", "DL3042"),
        "nsa": NSA,
    },
)
def dockerfile_package_manager_hygiene(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, ins in enumerate(_instructions(obj)):
        if ins.get("instruction") != "RUN":
            continue
        text = _run_text(ins)
        mounts = " ".join(str(v) for k, v in (ins.get("flags") or {}).items() if k == "mount")
        cached = "type=cache" in mounts
        path = ("spec", "instructions", i)
        if _APT_INSTALL.search(text):
            if "--no-install-recommends" not in text and "APT::Install-Recommends" not in text:
                yield Violation(path, "apt-get install without --no-install-recommends", subcode="apt_recommends")
            if "/var/lib/apt/lists" not in text and not cached:
                yield Violation(path, "apt-get install leaves /var/lib/apt/lists in the layer", subcode="apt_lists")
        if _APK_ADD.search(text) and "--no-cache" not in text and not cached:
            yield Violation(path, "apk add without --no-cache", subcode="apk_cache")
        if _PIP_INSTALL.search(text) and "--no-cache-dir" not in text and "PIP_NO_CACHE_DIR" not in text and not cached:
            yield Violation(path, "pip install without --no-cache-dir", subcode="pip_cache")
        m = _YUM.search(text)
        if m and not re.search(rf"\b{m.group(1)}\s+clean\s+all\b", text) and not cached:
            yield Violation(path, f"{m.group(1)} install without {m.group(1)} clean all", subcode=f"{m.group(1)}_clean")


RULES = [
    dockerfile_root_user,
    dockerfile_from_mutable_tag,
    dockerfile_from_no_digest,
    dockerfile_from_unlisted_registry,
    dockerfile_from_public_registry,
    dockerfile_add_instead_of_copy,
    dockerfile_add_from_url,
    dockerfile_pipe_to_shell,
    dockerfile_secret_in_env_arg,
    dockerfile_package_manager_hygiene,
]
