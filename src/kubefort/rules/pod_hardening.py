"""POD rules about kernel-level hardening: UIDs/GIDs, read-only root, seccomp, AppArmor, SELinux,
/proc masks, sysctls, HostProcess, probe hosts, volume types and missing security contexts.

Pod Security Standards mode (``ctx.pss`` set, or the rule's ``pss_strict`` parameter): the rules
that carry ``pss=`` metadata then judge as the Pod Security admission checks of the newest policy
version do (``k8s.io/pod-security-admission/policy``), which differs from the default mode here:

- seccomp (restricted): a pod-level type other than RuntimeDefault/Localhost fails the pod even when
  every container overrides it; containers without their own profile need a valid pod-level one;
  Windows pods are exempt. Only the fields count: Kubernetes ignores the alpha seccomp annotations
  since v1.27 (no kubelet support, no copying into the fields).
- seccomp (baseline): any explicit type other than RuntimeDefault/Localhost fails. Under the
  restricted level this check is replaced by the restricted one, so Windows pods pass it there.
- AppArmor: field types other than RuntimeDefault/Localhost, and beta annotations whose value is not
  empty, ``runtime/default`` or ``localhost/...`` (any container name; names are not cross-checked).
- /proc mount: baseline allows any procMount when ``hostUsers: false``; restricted never does.
- sysctls: the newest safe set, names compared literally (no ``/`` separator normalisation).
- probe/lifecycle hosts: any non-empty ``host`` fails, loopback included.

Where the default mode departs from the catalogue text, it follows what Kubernetes does today:

- KF-POD-022: an alpha seccomp annotation alone is not a profile (reported with sub-code
  ``legacy_annotation``): since v1.27 Kubernetes neither applies nor copies it into the fields.
- KF-POD-030: 127.0.0.1 / ::1 pass only for ``hostNetwork`` pods. For other pods the kubelet, which
  runs the handler from the node, would reach the node's loopback services (released Pod Security
  rejects every non-empty host).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ..engine.fixes import AddEntry, FixAt, SetField, fix
from ..engine.rule import Context, NotEvaluated, PssLevel, Scope, Severity, Violation, rule
from ..model.objects import Path
from ..model.workloads import ContainerSet, ContainerView, Effective, PodSpecView
from ._common import BASELINE, RESTRICTED, pss

NSA = "NSA/CISA: pod security"

SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
CONFINED_TYPES = frozenset({"RuntimeDefault", "Localhost"})

SELINUX_ALLOWED_TYPES = frozenset({"container_t", "container_init_t", "container_kvm_t", "container_engine_t"})

#: Safe sysctls by the Pod Security policy version that added them (PSA check ``sysctls``).
SAFE_SYSCTLS: tuple[tuple[tuple[int, int], frozenset[str]], ...] = (
    (
        (1, 0),
        frozenset(
            {
                "kernel.shm_rmid_forced",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range",
            }
        ),
    ),
    ((1, 27), frozenset({"net.ipv4.ip_local_reserved_ports"})),
    (
        (1, 29),
        frozenset(
            {
                "net.ipv4.tcp_keepalive_time",
                "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes",
            }
        ),
    ),
    ((1, 32), frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})),
    ((1, 37), frozenset({"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"})),
)

#: Volume sources Pod Security "restricted" allows (a volume without any source defaults to emptyDir).
ALLOWED_VOLUME_SOURCES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
#: Every other volume source of the core API (unknown keys are dropped by the API server).
OTHER_VOLUME_SOURCES = frozenset(
    {
        "hostPath",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "nfs",
        "iscsi",
        "glusterfs",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "fc",
        "azureFile",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "portworxVolume",
        "scaleIO",
        "storageos",
    }
)

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
LIFECYCLE_HOOKS = ("postStart", "preStop")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1"})


# -- helpers -------------------------------------------------------------------------------------


def _pss_level(ctx: Context, strict_level: PssLevel) -> PssLevel | None:
    """The Pod Security level to judge at: the scan's ``--pss`` level, else ``strict_level`` when the
    rule's ``pss_strict`` parameter is on, else None (default catalogue semantics)."""
    if ctx.pss is not None:
        return ctx.pss
    if _truthy(ctx.params.get("pss_strict")):
        return strict_level
    return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _int(value: Any) -> int | None:
    """A Kubernetes integer (bools are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _int_param(ctx: Context, name: str) -> int:
    value = ctx.param(name)
    if isinstance(value, bool):
        raise NotEvaluated(f"parameter {name} must be an integer, not {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotEvaluated(f"parameter {name} must be an integer, not {value!r}") from None


def _at(eff: Effective) -> Path:
    """Path of a setting known to be set."""
    assert eff.path is not None
    return eff.path


def _anchor(c: ContainerView) -> Path:
    """Where a finding about a missing container setting points: the securityContext if present."""
    return c.sc_path if isinstance(c.raw.get("securityContext"), dict) else c.path


def _from_pod(c: ContainerView, eff: Effective) -> str:
    if eff.path is not None and eff.path[: len(c.pod.sc_path)] == c.pod.sc_path:
        return " (inherited from the pod securityContext)"
    return ""


def _profile_type(profile: Any) -> str:
    """``type`` of a seccomp/AppArmor profile mapping; "" when missing or malformed."""
    if isinstance(profile, dict):
        t = profile.get("type")
        return t if isinstance(t, str) else ""
    return ""


def _type_path(path: Path, profile: Any) -> Path:
    return path + ("type",) if isinstance(profile, dict) and "type" in profile else path


def _show(value: Any) -> str:
    """A value as it reads in YAML/JSON: true, "Unmasked", 0."""
    return json.dumps(value) if isinstance(value, (bool, str, int, float)) or value is None else type(value).__name__


def _shown(value: Any) -> str:
    return _show(value) if value not in (None, "") else "without a type"


def _seccomp_annotation_type(value: Any) -> str | None:
    """How the API server mapped an alpha seccomp annotation to a profile type (before v1.27)."""
    if not isinstance(value, str):
        return None
    if value == "unconfined":
        return "Unconfined"
    if value in ("runtime/default", "docker/default"):
        return "RuntimeDefault"
    if value.startswith("localhost/") and len(value) > len("localhost/"):
        return "Localhost"
    return None


def _ann_path(pod: PodSpecView, key: str) -> Path:
    return pod.meta_path + ("annotations", key)


def _apparmor_annotation_ok(value: Any, strict: bool) -> bool:
    if not isinstance(value, str):
        return False
    if value in ("", "runtime/default"):
        return True
    if value.startswith("localhost/"):
        return strict or len(value) > len("localhost/")
    return False


def _container_names(pod: PodSpecView) -> set[str]:
    return {c.name for c in pod.containers(ContainerSet.ALL)}


def _sc_empty(sc: Any) -> bool:
    if not isinstance(sc, dict):
        return True
    return all(v is None for v in sc.values())


# -- KF-POD-018 / 019 ----------------------------------------------------------------------------


def _low_id(c: ContainerView, ctx: Context, field: str, param: str, what: str) -> Iterator[Violation]:
    minimum = _int_param(ctx, param)
    eff = c.effective(field)
    if not eff.is_set:
        if field == "runAsUser" and c.effective("runAsNonRoot").value is True:
            # the kubelet refuses to start the container as UID 0: the image's USER is some non-zero UID
            tail = "runAsNonRoot: true rules out 0, but the image's user may be a low UID that exists on the host"
        else:
            tail = f"often 0, which is the same {what} on the host"
        yield Violation(_anchor(c), f"{c.label} sets no {field} (pod or container): the image's {what} applies, {tail}")
        return
    value = _int(eff.value)
    if value is None:
        yield Violation(_at(eff), f"{c.label} has a {field} that is not an integer")
    elif value < minimum:
        yield Violation(
            _at(eff),
            f"{c.label} runs with {field} {value}{_from_pod(c, eff)}, below {param} "
            f"{minimum}: it may match a {what} that exists on the host",
        )


@rule(
    id="KF-POD-018",
    slug="low-run-as-user",
    title="Low UID may collide with host users",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    params={"min_uid": 10000},
    rationale="Without user namespaces a container UID is the same UID on the node; a low UID can own "
    "host files or processes if the container escapes.",
    remediation="Set securityContext.runAsUser to a UID of at least min_uid (default 10000), or run the pod "
    "with hostUsers: false.",
    refs={
        "checkov": "CKV_K8S_40",
        "trivy": "KSV-0020",
        "kube-score": "container-security-context-user-group-id",
        "nsa": NSA,
    },
)
def low_run_as_user(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return  # Windows has no UIDs: the API rejects runAsUser on Windows pods (runAsUserName applies)
    if c.pod.host_users_false:
        return  # user namespace: container UIDs map to unprivileged host UIDs
    yield from _low_id(c, ctx, "runAsUser", "min_uid", "UID")


@rule(
    id="KF-POD-019",
    slug="low-run-as-group",
    title="Low GID may collide with host groups",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    params={"min_gid": 10000},
    rationale="A container GID is the same GID on the node; a low GID can give access to host files owned "
    "by that group if the container escapes.",
    remediation="Set securityContext.runAsGroup to a GID of at least min_gid (default 10000).",
    refs={"trivy": "KSV-0021", "kube-score": "container-security-context-user-group-id", "nsa": NSA},
)
def low_run_as_group(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return  # Windows has no GIDs: the API rejects runAsGroup on Windows pods
    yield from _low_id(c, ctx, "runAsGroup", "min_gid", "GID")


# -- KF-POD-021 ----------------------------------------------------------------------------------


@rule(
    id="KF-POD-021",
    slug="writable-root-filesystem",
    title="Root filesystem is writable",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    rationale="A writable root filesystem lets an attacker drop tools or modify binaries and configuration "
    "inside the container.",
    remediation="Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the "
    "application must write.",
    refs={
        "kubescape": "C-0017",
        "checkov": "CKV_K8S_22",
        "trivy": "KSV-0014",
        "polaris": "notReadOnlyRootFilesystem",
        "kube-score": "container-security-context-readonlyrootfilesystem",
        "kube-linter": "no-read-only-root-fs",
        "kubeaudit": ("rootfs/ReadOnlyRootFilesystemFalse", "rootfs/ReadOnlyRootFilesystemNil"),
        "nsa": NSA,
    },
    # /tmp is where most programs write; an emptyDir there keeps them working (other paths need a human)
    fix=fix(
        FixAt.CONTAINER,
        SetField(("securityContext", "readOnlyRootFilesystem"), True),
        AddEntry(("volumeMounts",), (("name", "kubefort-tmp"), ("mountPath", "/tmp")), "mountPath"),
        AddEntry(("volumes",), (("name", "kubefort-tmp"), ("emptyDir", ())), "name", on_pod=True),
        opt_in="a program that writes outside its volumes and /tmp (caches, pid files) fails; the fix mounts an "
        "emptyDir at /tmp",
    ),
)
def writable_root_filesystem(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return  # Windows containers cannot have a read-only root filesystem: the API rejects the field there
    ro = c.sc("readOnlyRootFilesystem")
    if ro.value is True:
        return
    if ro.is_set:
        yield Violation(_at(ro), f"{c.label} sets readOnlyRootFilesystem to {_show(ro.value)}")
    else:
        yield Violation(_anchor(c), f"{c.label} does not set readOnlyRootFilesystem: true")


# -- KF-POD-022 / 023: seccomp -------------------------------------------------------------------


@rule(
    id="KF-POD-022",
    slug="seccomp-profile-missing",
    title="Seccomp profile not set to RuntimeDefault or Localhost",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    containers=ContainerSet.ALL,
    params={"pss_strict": False},
    rationale="Without a seccomp profile a container can call every system call, which widens the kernel "
    "attack surface available after a compromise.",
    remediation="Set spec.securityContext.seccompProfile.type: RuntimeDefault (or Localhost) and do not "
    "override it with another type in containers.",
    refs={
        "pss": "Seccomp (restricted, seccompProfile_restricted)",
        "cis": "5.6.2",
        "kubescape": "C-0210",
        "checkov": ("CKV_K8S_31", "CKV_K8S_32"),
        "trivy": "KSV-0030",
        "kube-score": "container-seccomp-profile",
        "kubeaudit": ("seccomp/SeccompProfileMissing", "seccomp/SeccompDeprecatedAnnotations"),
        "nsa": NSA,
    },
    pss=[pss(RESTRICTED, "Seccomp", "seccompProfile_restricted")],
    fix=fix(FixAt.POD, SetField(("securityContext", "seccompProfile", "type"), "RuntimeDefault", only_if_absent=True)),
)
def seccomp_profile_missing(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    if pod.is_windows:
        return  # seccomp is Linux-only; Pod Security exempts Windows pods too
    if _pss_level(ctx, RESTRICTED) is not None:
        yield from _seccomp_restricted_pss(pod)
        return
    anns = pod.annotations
    for c in pod.containers(ContainerSet.ALL):
        eff = c.effective("seccompProfile")
        if eff.is_set:
            t = _profile_type(eff.value)
            if t not in CONFINED_TYPES:
                yield Violation(
                    _type_path(_at(eff), eff.value),
                    f"{c.label} has seccomp profile {_shown(t)}{_from_pod(c, eff)}, not RuntimeDefault or Localhost",
                )
            continue
        key = SECCOMP_CONTAINER_PREFIX + c.name
        if key not in anns:
            key = SECCOMP_POD_ANNOTATION
        if key in anns and _seccomp_annotation_type(anns[key]) in CONFINED_TYPES:
            yield Violation(
                _ann_path(pod, key),
                f"{c.label} relies only on the annotation {key}, which Kubernetes ignores since "
                "v1.27: it runs without seccomp; set securityContext.seccompProfile instead",
                subcode="legacy_annotation",
            )
        else:
            yield Violation(
                _anchor(c),
                f"{c.label} has no seccomp profile (pod or container): it runs Unconfined "
                "unless the kubelet enables seccompDefault",
            )


def _seccomp_restricted_pss(pod: PodSpecView) -> Iterator[Violation]:
    """PSA ``seccompProfile_restricted``: explicit bad values fail; unset containers need a good pod value."""
    pod_profile = pod.security_context.get("seccompProfile")
    pod_ok = pod_bad = False
    if pod_profile is not None:
        t = _profile_type(pod_profile)
        if t in CONFINED_TYPES:
            pod_ok = True
        else:
            pod_bad = True
            yield Violation(
                _type_path(pod.sc_path + ("seccompProfile",), pod_profile),
                f"the pod sets seccompProfile {_shown(t)}, not RuntimeDefault or Localhost",
            )
    for c in pod.containers(ContainerSet.ALL):
        profile = c.security_context.get("seccompProfile")
        if profile is not None:
            t = _profile_type(profile)
            if t not in CONFINED_TYPES:
                yield Violation(
                    _type_path(c.sc_path + ("seccompProfile",), profile),
                    f"{c.label} sets seccompProfile {_shown(t)}, not RuntimeDefault or Localhost",
                )
        elif not pod_ok and not pod_bad:
            yield Violation(
                _anchor(c), f"neither the pod nor {c.label} sets seccompProfile.type to RuntimeDefault or Localhost"
            )


@rule(
    id="KF-POD-023",
    slug="seccomp-unconfined",
    title="Seccomp explicitly disabled (Unconfined)",
    severity=Severity.HIGH,
    scope=Scope.POD,
    containers=ContainerSet.ALL,
    params={"pss_strict": False},
    rationale="An Unconfined seccomp profile removes the system-call filter the runtime would otherwise "
    "apply, exposing the whole kernel interface to the container.",
    remediation="Remove the Unconfined seccomp setting (field or legacy annotation) and use RuntimeDefault "
    "or a Localhost profile.",
    refs={
        "pss": "Seccomp (baseline, seccompProfile_baseline)",
        "trivy": "KSV-0104",
        "kubeaudit": ("seccomp/SeccompDisabledPod", "seccomp/SeccompDisabledContainer"),
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "Seccomp", "seccompProfile_baseline")],
)
def seccomp_unconfined(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    level = _pss_level(ctx, BASELINE)
    if level is RESTRICTED and pod.is_windows:
        return  # restricted replaces this check with seccompProfile_restricted, which exempts Windows pods

    def bad(profile: Any) -> bool:
        t = _profile_type(profile)
        return t not in CONFINED_TYPES if level is not None else t == "Unconfined"

    profile = pod.security_context.get("seccompProfile")
    if profile is not None and bad(profile):
        yield Violation(
            _type_path(pod.sc_path + ("seccompProfile",), profile),
            f"the pod sets seccompProfile {_shown(_profile_type(profile))}",
        )
    for c in pod.containers(ContainerSet.ALL):
        profile = c.security_context.get("seccompProfile")
        if profile is not None and bad(profile):
            yield Violation(
                _type_path(c.sc_path + ("seccompProfile",), profile),
                f"{c.label} sets seccompProfile {_shown(_profile_type(profile))}",
            )
    if level is not None:
        return  # Pod Security (v1.19+) reads only the fields
    for key, value in pod.annotations.items():
        if (key == SECCOMP_POD_ANNOTATION or key.startswith(SECCOMP_CONTAINER_PREFIX)) and value == "unconfined":
            who = "the pod" if key == SECCOMP_POD_ANNOTATION else f'container "{key[len(SECCOMP_CONTAINER_PREFIX) :]}"'
            yield Violation(
                _ann_path(pod, key),
                f"the legacy annotation {key} disables seccomp for {who} (honoured by clusters before v1.27)",
            )


# -- KF-POD-024 / 025: AppArmor ------------------------------------------------------------------


@rule(
    id="KF-POD-024",
    slug="apparmor-unconfined",
    title="AppArmor profile overridden to unconfined or invalid",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    containers=ContainerSet.ALL,
    params={"pss_strict": False},
    rationale="Overriding the runtime's default AppArmor profile with unconfined removes a mandatory access "
    "control layer between the container and the host.",
    remediation="Use appArmorProfile.type RuntimeDefault or Localhost (or the annotation values runtime/default "
    "or localhost/<profile>) and name only containers that exist.",
    refs={
        "pss": "AppArmor (baseline, appArmorProfile)",
        "trivy": "KSV-0002",
        "kubeaudit": ("apparmor/AppArmorDisabled", "apparmor/AppArmorBadValue", "apparmor/AppArmorInvalidAnnotation"),
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "AppArmor", "appArmorProfile")],
)
def apparmor_unconfined(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    strict = _pss_level(ctx, BASELINE) is not None
    profile = pod.security_context.get("appArmorProfile")
    if profile is not None and _profile_type(profile) not in CONFINED_TYPES:
        yield Violation(
            _type_path(pod.sc_path + ("appArmorProfile",), profile),
            f"the pod sets appArmorProfile {_shown(_profile_type(profile))}",
        )
    for c in pod.containers(ContainerSet.ALL):
        profile = c.security_context.get("appArmorProfile")
        if profile is not None and _profile_type(profile) not in CONFINED_TYPES:
            yield Violation(
                _type_path(c.sc_path + ("appArmorProfile",), profile),
                f"{c.label} sets appArmorProfile {_shown(_profile_type(profile))}",
            )
    names = _container_names(pod)
    for key, value in pod.annotations.items():
        if not key.startswith(APPARMOR_CONTAINER_PREFIX):
            continue
        name = key[len(APPARMOR_CONTAINER_PREFIX) :]
        if not _apparmor_annotation_ok(value, strict):
            yield Violation(
                _ann_path(pod, key),
                f"the annotation {key} sets AppArmor profile {_show(value)} for "
                f'container "{name}" (allowed: runtime/default, localhost/<profile>)',
            )
        elif not strict and name not in names:
            yield Violation(
                _ann_path(pod, key), f'the annotation {key} names container "{name}", which the pod does not have'
            )


@rule(
    id="KF-POD-025",
    slug="apparmor-profile-missing",
    title="No AppArmor profile specified",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    params={"apparmor_expected": False},
    requires="apparmor_expected",
    rationale="On nodes that run AppArmor an explicit profile documents and pins the confinement a container "
    "gets instead of leaving it to runtime defaults.",
    remediation="Set securityContext.appArmorProfile.type: RuntimeDefault (pod or container level), or a "
    "Localhost profile.",
    refs={"kubeaudit": "apparmor/AppArmorAnnotationMissing", "nsa": NSA},
)
def apparmor_profile_missing(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return
    if c.effective("appArmorProfile").is_set:
        return
    value = c.pod.annotations.get(APPARMOR_CONTAINER_PREFIX + c.name)
    if isinstance(value, str) and value:
        return
    yield Violation(_anchor(c), f"{c.label} has no AppArmor profile (appArmorProfile field or annotation)")


# -- KF-POD-026: SELinux -------------------------------------------------------------------------


def _selinux_violations(opts: Any, base: Path, who: str) -> Iterator[Violation]:
    if not isinstance(opts, dict):
        return
    t = opts.get("type")
    if t not in (None, "") and t not in SELINUX_ALLOWED_TYPES:
        yield Violation(
            base + ("type",),
            f"{who} sets seLinuxOptions.type {_show(t)}, not a container type "
            "(container_t, container_init_t, container_kvm_t, container_engine_t)",
        )
    for field in ("user", "role"):
        if opts.get(field) not in (None, ""):
            yield Violation(base + (field,), f"{who} sets a custom seLinuxOptions.{field}")


@rule(
    id="KF-POD-026",
    slug="custom-selinux-options",
    title="Custom SELinux options",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    containers=ContainerSet.ALL,
    rationale="A custom SELinux type, user or role can give the container a more privileged label than the "
    "confined container domain, such as spc_t or unconfined_t.",
    remediation="Remove seLinuxOptions.user and role and use only the container_t, container_init_t, "
    "container_kvm_t or container_engine_t types.",
    refs={"pss": "SELinux (baseline, seLinuxOptions)", "trivy": "KSV-0025", "nsa": NSA},
    pss=[pss(BASELINE, "SELinux", "seLinuxOptions")],
)
def custom_selinux_options(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    yield from _selinux_violations(
        pod.security_context.get("seLinuxOptions"), pod.sc_path + ("seLinuxOptions",), "the pod"
    )
    for c in pod.containers(ContainerSet.ALL):
        yield from _selinux_violations(
            c.security_context.get("seLinuxOptions"), c.sc_path + ("seLinuxOptions",), c.label
        )


# -- KF-POD-027: /proc mount ---------------------------------------------------------------------


@rule(
    id="KF-POD-027",
    slug="unmasked-proc-mount",
    title="Unmasked /proc mount",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.ALL,
    params={"pss_strict": False},
    rationale="An Unmasked /proc exposes kernel interfaces that the runtime normally masks or makes "
    "read-only, some of which allow information leaks or host changes.",
    remediation="Remove securityContext.procMount or set it to Default (Unmasked is acceptable only for "
    "pods with hostUsers: false at the baseline level).",
    refs={
        "pss": ("/proc Mount Type (baseline, procMount)", "/proc Mount Type (restricted, procMount_restricted)"),
        "trivy": "KSV-0027",
        "polaris": "procMount",
        "kube-linter": "unsafe-proc-mount",
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "/proc Mount Type", "procMount"), pss(RESTRICTED, "/proc Mount Type", "procMount_restricted")],
)
def unmasked_proc_mount(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    pm = c.sc("procMount")
    if not pm.is_set or pm.value == "Default":
        return
    if c.pod.host_users_false and _pss_level(ctx, RESTRICTED) is not RESTRICTED:
        return  # baseline relaxation for user-namespaced pods
    extra = " (the restricted level forbids it even with hostUsers: false)" if c.pod.host_users_false else ""
    yield Violation(_at(pm), f"{c.label} sets procMount to {_show(pm.value)}{extra}")


# -- KF-POD-028: sysctls -------------------------------------------------------------------------


def _parse_version(value: Any) -> tuple[int, int] | None:
    """``target_version`` -> (major, minor); None means the newest policy version."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "latest", "newest")):
        return None
    if isinstance(value, float):
        text = repr(value)
        if len(text.split(".", 1)[1]) < 2:
            raise NotEvaluated(
                f"target_version {value!r} is a YAML number and ambiguous (1.3 or 1.30?): "
                'write it as a string such as "1.30"'
            )
    elif isinstance(value, str):
        text = value.strip().lower().lstrip("v")
    else:
        raise NotEvaluated(f'target_version {value!r} is not a Kubernetes version such as "1.29"')
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise NotEvaluated(f'target_version {value!r} is not a Kubernetes version such as "1.29"') from None


def safe_sysctls(version: tuple[int, int] | None) -> frozenset[str]:
    out: set[str] = set()
    for since, names in SAFE_SYSCTLS:
        if version is None or version >= since:
            out |= names
    return frozenset(out)


def normalise_sysctl(name: str) -> str:
    """kubelet normalisation: a name whose first separator is ``/`` uses ``/`` and ``.`` swapped."""
    for ch in name:
        if ch == ".":
            return name
        if ch == "/":
            return name.translate(str.maketrans("./", "/."))
    return name


@rule(
    id="KF-POD-028",
    slug="unsafe-sysctls",
    title="Unsafe sysctls",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    params={"target_version": "newest", "pss_strict": False},
    rationale="Sysctls outside the namespaced safe set can disable kernel protections or change settings "
    "shared with every pod on the node.",
    remediation="Remove sysctls outside the safe set from spec.securityContext.sysctls, or set them on the "
    "node instead.",
    refs={"pss": "Sysctls (baseline, sysctls)", "trivy": "KSV-0026", "kube-linter": "unsafe-sysctls", "nsa": NSA},
    pss=[pss(BASELINE, "Sysctls", "sysctls")],
)
def unsafe_sysctls(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    level = _pss_level(ctx, BASELINE)
    version = None if ctx.pss is not None else _parse_version(ctx.param("target_version"))
    allowed = safe_sysctls(version)
    items = pod.security_context.get("sysctls")
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        checked = name if level is not None else normalise_sysctl(name)
        if checked not in allowed:
            yield Violation(
                pod.sc_path + ("sysctls", i, "name"), f"the pod sets sysctl {name}, which is not in the safe set"
            )


# -- KF-POD-029: HostProcess ---------------------------------------------------------------------


def _host_process(sc: Mapping[str, Any]) -> bool:
    w = sc.get("windowsOptions")
    return isinstance(w, dict) and w.get("hostProcess") is True


@rule(
    id="KF-POD-029",
    slug="windows-host-process",
    title="Windows HostProcess container",
    severity=Severity.HIGH,
    scope=Scope.POD,
    containers=ContainerSet.ALL,
    rationale="A HostProcess container runs directly on the Windows host with the host's network and "
    "file system, like a privileged Linux container.",
    remediation="Remove windowsOptions.hostProcess (or set it to false) at pod and container level.",
    refs={
        "pss": "HostProcess (baseline, windowsHostProcess)",
        "cis": "5.2.10",
        "kubescape": "C-0202",
        "trivy": "KSV-0103",
        "polaris": "hostProcess",
        "nsa": NSA,
    },
    pss=[pss(BASELINE, "HostProcess", "windowsHostProcess")],
)
def windows_host_process(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    if _host_process(pod.security_context):
        yield Violation(
            pod.sc_path + ("windowsOptions", "hostProcess"),
            "the pod runs its containers as Windows HostProcess containers",
        )
    for c in pod.containers(ContainerSet.ALL):
        if _host_process(c.security_context):
            yield Violation(
                c.sc_path + ("windowsOptions", "hostProcess"), f"{c.label} is a Windows HostProcess container"
            )


# -- KF-POD-030: probe and lifecycle hosts -------------------------------------------------------


def _handler_hosts(c: ContainerView) -> Iterator[tuple[Path, str, str]]:
    """(path of ``host``, its value, where) for every probe / lifecycle handler that sets one."""

    def from_handler(handler: Any, base: Path, where: str) -> Iterator[tuple[Path, str, str]]:
        if not isinstance(handler, dict):
            return
        for action in ("httpGet", "tcpSocket"):
            a = handler.get(action)
            if isinstance(a, dict) and a.get("host") not in (None, ""):
                yield base + (action, "host"), str(a["host"]), f"{where}.{action}"

    for probe in PROBES:
        yield from from_handler(c.raw.get(probe), c.at(probe), probe)
    lifecycle = c.raw.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in LIFECYCLE_HOOKS:
            yield from from_handler(lifecycle.get(hook), c.at("lifecycle", hook), f"lifecycle.{hook}")


@rule(
    id="KF-POD-030",
    slug="probe-host-override",
    title="Probe or lifecycle handler targets another host",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    params={"pss_strict": False},
    rationale="The kubelet runs httpGet and tcpSocket handlers from the node, so a host field makes the node "
    "connect to any address, including its own loopback services (server-side request forgery).",
    remediation="Remove host from probe and lifecycle httpGet/tcpSocket handlers (the kubelet then targets the "
    "pod IP); use an exec handler or an httpHeaders Host header instead.",
    refs={"pss": "Host Probes / Lifecycle Hooks (baseline, hostProbesAndHostLifecycle)", "nsa": NSA},
    pss=[pss(BASELINE, "Host Probes / Lifecycle Hooks", "hostProbesAndHostLifecycle")],
)
def probe_host_override(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    strict = _pss_level(ctx, BASELINE) is not None
    host_network = c.pod.spec.get("hostNetwork") is True
    for path, host, where in _handler_hosts(c):
        if host in LOOPBACK_HOSTS:
            if host_network:
                if not strict:
                    continue  # the pod shares the node's network: its loopback is the node's, as intended
                yield Violation(
                    path,
                    f"{c.label} {where} sets host {host} (Pod Security forbids any probe or "
                    "lifecycle host, loopback included)",
                )
                continue
            yield Violation(
                path,
                f"{c.label} {where} targets {host}: the kubelet connects from the node, so this "
                "reaches the node's loopback services, not the pod",
            )
        else:
            yield Violation(path, f"{c.label} {where} makes the kubelet connect to {host}")


# -- KF-POD-031: volume types --------------------------------------------------------------------


@rule(
    id="KF-POD-031",
    slug="restricted-volume-type",
    title="Restricted volume type used",
    severity=Severity.LOW,
    scope=Scope.POD,
    rationale="Volume types other than the core ephemeral and PersistentVolumeClaim-backed ones reach node "
    "paths or storage backends directly, bypassing the storage administrator's PersistentVolumes.",
    remediation="Use configMap, secret, downwardAPI, projected, emptyDir, ephemeral, image, csi or a "
    "persistentVolumeClaim instead.",
    refs={"pss": "Volume Types (restricted, restrictedVolumes)", "trivy": "KSV-0028", "nsa": NSA},
    pss=[pss(RESTRICTED, "Volume Types", "restrictedVolumes")],
)
def restricted_volume_type(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    for i, vol in pod.volumes():
        present = [k for k, v in vol.items() if v is not None and k != "name"]
        if any(k in ALLOWED_VOLUME_SOURCES for k in present):
            continue
        for k in present:
            if k in OTHER_VOLUME_SOURCES:
                name = vol.get("name")
                yield Violation(pod.at("volumes", i, k), f'volume "{name}" uses the restricted type {k}')
                break
        # no known source at all: the API server defaults the volume to emptyDir


# -- KF-POD-032: missing security context --------------------------------------------------------


#: Pod securityContext fields a container inherits when it does not set them itself (the others,
#: fsGroup, supplementalGroups, sysctls..., are about the pod's volumes and kernel, not a container).
INHERITED_FIELDS = (
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "seLinuxOptions",
    "seccompProfile",
    "appArmorProfile",
    "windowsOptions",
)


@rule(
    id="KF-POD-032",
    slug="security-context-missing",
    title="Security context missing",
    severity=Severity.LOW,
    scope=Scope.POD,
    containers=ContainerSet.CI,
    rationale="Without a security context every setting falls back to runtime defaults, which allow root, "
    "privilege escalation and a writable root filesystem.",
    remediation="Add a spec.securityContext and a securityContext to every container with at least "
    "runAsNonRoot, allowPrivilegeEscalation: false and dropped capabilities.",
    refs={
        "cis": "5.6.3",
        "kubescape": "C-0211",
        "checkov": ("CKV_K8S_29", "CKV_K8S_30"),
        "trivy": "KSV-0118",
        "nsa": NSA,
    },
)
def security_context_missing(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    """Judged on the settings each container runs with: its own securityContext, or the pod-level fields
    it inherits. A pod without a securityContext of its own is fine when every container sets its own
    (a container cannot inherit what it already sets)."""
    psc = pod.security_context
    inherited = [f for f in INHERITED_FIELDS if psc.get(f) is not None]
    if inherited:
        return  # every container runs with the pod's settings, at least
    if pod.spec.get("securityContext") is None:
        pod_text = "the pod has none"
    elif _sc_empty(pod.spec.get("securityContext")):
        pod_text = "the pod's is empty"
    else:
        pod_text = "the pod's sets no field containers inherit"
    for c in pod.containers(ContainerSet.CI):
        sc = c.raw.get("securityContext")
        if sc is None:
            yield Violation(c.path, f"{c.label} has no securityContext and {pod_text}")
        elif _sc_empty(sc):
            yield Violation(c.sc_path, f"{c.label} has an empty securityContext and {pod_text}")


# -- KF-POD-033: no Linux hardening --------------------------------------------------------------


@rule(
    id="KF-POD-033",
    slug="no-linux-hardening",
    title="No Linux hardening mechanism applied",
    severity=Severity.LOW,
    scope=Scope.CONTAINER,
    containers=ContainerSet.CI,
    rationale="Seccomp, AppArmor, SELinux and dropped capabilities each limit what a compromised process can "
    "do to the kernel; a container with none of them relies on isolation alone.",
    remediation="Apply at least one: seccompProfile RuntimeDefault, an AppArmor profile, seLinuxOptions, or "
    "capabilities.drop: [ALL].",
    refs={"kubescape": "C-0055", "polaris": "linuxHardening", "nsa": NSA},
)
def no_linux_hardening(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    if c.pod.is_windows:
        return  # seccomp, AppArmor, SELinux and capabilities are Linux mechanisms the API rejects on Windows pods
    seccomp = c.effective("seccompProfile")
    if seccomp.is_set and _profile_type(seccomp.value) in CONFINED_TYPES:
        return
    apparmor = c.effective("appArmorProfile")
    if apparmor.is_set and _profile_type(apparmor.value) in CONFINED_TYPES:
        return
    ann = c.pod.annotations.get(APPARMOR_CONTAINER_PREFIX + c.name)
    if ann != "" and _apparmor_annotation_ok(ann, strict=False):
        return
    selinux = c.effective("seLinuxOptions")
    if isinstance(selinux.value, dict) and any(v not in (None, "") for v in selinux.value.values()):
        return
    if c.capabilities("drop"):
        return
    yield Violation(
        _anchor(c), f"{c.label} has no seccomp or AppArmor profile, no SELinux options and drops no capabilities"
    )


RULES = [
    low_run_as_user,
    low_run_as_group,
    writable_root_filesystem,
    seccomp_profile_missing,
    seccomp_unconfined,
    apparmor_unconfined,
    apparmor_profile_missing,
    custom_selinux_options,
    unmasked_proc_mount,
    unsafe_sysctls,
    windows_host_process,
    probe_host_override,
    restricted_volume_type,
    security_context_missing,
    no_linux_hardening,
]
