"""ContainerView.effective() follows Kubernetes pkg/securitycontext.DetermineEffectiveSecurityContext."""

from __future__ import annotations

from typing import Any

import pytest

from kubefort.model.objects import K8sObject, Source
from kubefort.model.workloads import ContainerSet, ContainerView, PodSpecView, normalise_capability, pod_spec


def _pod(spec: dict[str, Any], kind: str = "Pod") -> PodSpecView:
    if kind == "Pod":
        raw: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": spec,
        }
    else:
        raw = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": spec}},
        }
    obj = K8sObject.from_raw(raw, Source(file="test.yaml"))
    view = pod_spec(obj)
    assert view is not None
    return view


def _container(spec: dict[str, Any], name: str = "app", kind: str = "Pod") -> ContainerView:
    for c in _pod(spec, kind).containers(ContainerSet.ALL):
        if c.name == name:
            return c
    raise AssertionError(f"no container {name}")


# ------------------------------------------------------------------------------------ shared fields


@pytest.mark.parametrize(
    "field,value",
    [
        ("runAsUser", 1000),
        ("runAsGroup", 3000),
        ("runAsNonRoot", True),
        ("seccompProfile", {"type": "RuntimeDefault"}),
        ("appArmorProfile", {"type": "RuntimeDefault"}),
        ("seLinuxOptions", {"level": "s0:c123,c456"}),
    ],
)
def test_pod_level_value_is_inherited(field: str, value: Any) -> None:
    c = _container({"securityContext": {field: value}, "containers": [{"name": "app", "image": "a:1"}]})
    e = c.effective(field)
    assert e.value == value
    assert e.path == ("spec", "securityContext", field)
    assert e.is_set


def test_pod_level_value_is_inherited_by_empty_container_security_context() -> None:
    c = _container(
        {"securityContext": {"runAsUser": 1000}, "containers": [{"name": "app", "image": "a:1", "securityContext": {}}]}
    )
    assert c.effective("runAsUser").value == 1000
    assert c.effective("runAsUser").path == ("spec", "securityContext", "runAsUser")


@pytest.mark.parametrize(
    "field,pod_value,ctr_value",
    [
        ("runAsUser", 1000, 0),
        ("runAsGroup", 0, 2000),
        ("runAsNonRoot", True, False),
        ("runAsNonRoot", False, True),
        ("seccompProfile", {"type": "RuntimeDefault"}, {"type": "Unconfined"}),
    ],
)
def test_container_value_wins(field: str, pod_value: Any, ctr_value: Any) -> None:
    c = _container(
        {
            "securityContext": {field: pod_value},
            "containers": [{"name": "app", "image": "a:1", "securityContext": {field: ctr_value}}],
        }
    )
    e = c.effective(field)
    assert e.value == ctr_value
    assert e.path == ("spec", "containers", 0, "securityContext", field)


def test_falsy_container_values_still_win() -> None:
    # runAsUser: 0 and runAsNonRoot: false are set values, not absent ones
    c = _container(
        {
            "securityContext": {"runAsUser": 1000, "runAsNonRoot": True},
            "containers": [{"name": "app", "image": "a:1", "securityContext": {"runAsUser": 0, "runAsNonRoot": False}}],
        }
    )
    assert c.effective("runAsUser").value == 0
    assert c.effective("runAsNonRoot").value is False


def test_null_container_value_falls_back_to_pod() -> None:
    c = _container(
        {
            "securityContext": {"runAsUser": 1000},
            "containers": [{"name": "app", "image": "a:1", "securityContext": {"runAsUser": None}}],
        }
    )
    assert c.effective("runAsUser").value == 1000


def test_unset_everywhere() -> None:
    c = _container({"containers": [{"name": "app", "image": "a:1"}]})
    e = c.effective("runAsNonRoot")
    assert e.value is None and e.path is None and not e.is_set


def test_template_paths() -> None:
    c = _container(
        {"securityContext": {"runAsUser": 1000}, "containers": [{"name": "app", "image": "a:1"}]}, kind="Deployment"
    )
    assert c.effective("runAsUser").path == ("spec", "template", "spec", "securityContext", "runAsUser")
    assert c.path == ("spec", "template", "spec", "containers", 0)


def test_se_linux_options_replaced_whole() -> None:
    c = _container(
        {
            "securityContext": {
                "seLinuxOptions": {"user": "system_u", "role": "system_r", "type": "container_t", "level": "s0:c1,c2"}
            },
            "containers": [{"name": "app", "image": "a:1", "securityContext": {"seLinuxOptions": {"level": "s0:c9"}}}],
        }
    )
    e = c.effective("seLinuxOptions")
    assert e.value == {"level": "s0:c9"}  # no user/role/type from the pod
    assert e.path == ("spec", "containers", 0, "securityContext", "seLinuxOptions")


def test_seccomp_profile_replaced_whole() -> None:
    c = _container(
        {
            "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "profiles/audit.json"}},
            "containers": [
                {"name": "app", "image": "a:1", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
            ],
        }
    )
    assert c.effective("seccompProfile").value == {"type": "RuntimeDefault"}


# ------------------------------------------------------------------------------------ windowsOptions


def test_windows_options_merged_field_by_field() -> None:
    c = _container(
        {
            "os": {"name": "windows"},
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser", "hostProcess": False}},
            "containers": [
                {"name": "app", "image": "a:1", "securityContext": {"windowsOptions": {"hostProcess": True}}}
            ],
        }
    )
    e = c.effective("windowsOptions")
    assert e.value == {"runAsUserName": "ContainerUser", "hostProcess": True}
    assert e.path == ("spec", "containers", 0, "securityContext", "windowsOptions")


def test_windows_options_from_pod_only() -> None:
    c = _container(
        {
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerAdministrator"}},
            "containers": [{"name": "app", "image": "a:1"}],
        }
    )
    e = c.effective("windowsOptions")
    assert e.value == {"runAsUserName": "ContainerAdministrator"}
    assert e.path == ("spec", "securityContext", "windowsOptions")


def test_windows_options_from_container_only() -> None:
    c = _container(
        {
            "containers": [
                {
                    "name": "app",
                    "image": "a:1",
                    "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
                }
            ]
        }
    )
    assert c.effective("windowsOptions").value == {"runAsUserName": "ContainerUser"}


def test_windows_options_empty_container_object_keeps_pod_values() -> None:
    c = _container(
        {
            "securityContext": {"windowsOptions": {"runAsUserName": "ContainerUser"}},
            "containers": [{"name": "app", "image": "a:1", "securityContext": {"windowsOptions": {}}}],
        }
    )
    assert c.effective("windowsOptions").value == {"runAsUserName": "ContainerUser"}


def test_windows_gmsa_fields_go_hand_in_hand() -> None:
    # Kubernetes copies both GMSA fields from the container when it sets either of them
    c = _container(
        {
            "securityContext": {
                "windowsOptions": {
                    "gmsaCredentialSpecName": "pod-gmsa",
                    "gmsaCredentialSpec": '{"pod": true}',
                    "runAsUserName": "ContainerUser",
                }
            },
            "containers": [
                {
                    "name": "app",
                    "image": "a:1",
                    "securityContext": {"windowsOptions": {"gmsaCredentialSpecName": "app-gmsa"}},
                }
            ],
        }
    )
    assert c.effective("windowsOptions").value == {
        "gmsaCredentialSpecName": "app-gmsa",
        "runAsUserName": "ContainerUser",
    }


def test_windows_options_unset() -> None:
    c = _container({"containers": [{"name": "app", "image": "a:1"}]})
    assert c.effective("windowsOptions").value is None
    assert not c.effective("windowsOptions").is_set


# ------------------------------------------------------------------------------------ container-only fields


def test_container_only_fields_are_not_inherited() -> None:
    # privileged, capabilities, allowPrivilegeEscalation... do not exist on the pod security context
    c = _container(
        {
            "securityContext": {"privileged": True, "allowPrivilegeEscalation": False},
            "containers": [{"name": "app", "image": "a:1"}],
        }
    )
    assert c.sc("privileged").value is None
    assert c.sc("allowPrivilegeEscalation").value is None


def test_sc_reads_container_field() -> None:
    c = _container(
        {"containers": [{"name": "app", "image": "a:1", "securityContext": {"allowPrivilegeEscalation": False}}]}
    )
    e = c.sc("allowPrivilegeEscalation")
    assert e.value is False and e.path == ("spec", "containers", 0, "securityContext", "allowPrivilegeEscalation")


def test_capabilities_normalised() -> None:
    c = _container(
        {
            "containers": [
                {
                    "name": "app",
                    "image": "a:1",
                    "securityContext": {
                        "capabilities": {"add": ["cap_net_bind_service", "CAP_SYS_TIME", "chown"], "drop": ["all"]}
                    },
                }
            ]
        }
    )
    assert c.capabilities("add") == ["NET_BIND_SERVICE", "SYS_TIME", "CHOWN"]
    assert c.capabilities("drop") == ["ALL"]
    assert normalise_capability(" Cap_Kill ") == "KILL"


# ------------------------------------------------------------------------------------ container sets


SPEC_WITH_ALL_KINDS = {
    "initContainers": [
        {"name": "migrate", "image": "a:1"},
        {"name": "istio-proxy", "image": "proxy:1", "restartPolicy": "Always"},
        {"name": "log-shipper", "image": "fluent-bit:3", "restartPolicy": "Never"},
    ],
    "containers": [{"name": "app", "image": "a:1"}],
    "ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36", "targetContainerName": "app"}],
}


def test_sidecar_detection() -> None:
    views = {c.name: c for c in _pod(SPEC_WITH_ALL_KINDS).containers(ContainerSet.ALL)}
    assert views["istio-proxy"].is_sidecar
    assert not views["migrate"].is_sidecar
    assert not views["log-shipper"].is_sidecar  # only restartPolicy: Always makes a sidecar
    assert not views["app"].is_sidecar
    assert not views["debugger"].is_sidecar
    assert views["istio-proxy"].label == 'init container "istio-proxy"'
    assert views["debugger"].label == 'ephemeral container "debugger"'


@pytest.mark.parametrize(
    "which,names",
    [
        (ContainerSet.ALL, ["migrate", "istio-proxy", "log-shipper", "app", "debugger"]),
        (ContainerSet.CI, ["migrate", "istio-proxy", "log-shipper", "app"]),
        (ContainerSet.C, ["istio-proxy", "app"]),
    ],
)
def test_container_sets(which: ContainerSet, names: list[str]) -> None:
    assert [c.name for c in _pod(SPEC_WITH_ALL_KINDS).containers(which)] == names


def test_ephemeral_container_inherits_pod_level() -> None:
    spec = dict(SPEC_WITH_ALL_KINDS, securityContext={"runAsNonRoot": True})
    c = _container(spec, name="debugger")
    assert c.list_name == "ephemeralContainers"
    assert c.effective("runAsNonRoot").value is True
    assert c.path == ("spec", "ephemeralContainers", 0)


def test_pod_flags() -> None:
    assert _pod({"os": {"name": "windows"}, "containers": []}).is_windows
    assert not _pod({"os": {"name": "linux"}, "containers": []}).is_windows
    assert not _pod({"containers": []}).is_windows
    assert _pod({"hostUsers": False, "containers": []}).host_users_false
    assert not _pod({"hostUsers": True, "containers": []}).host_users_false
    assert not _pod({"containers": []}).host_users_false
