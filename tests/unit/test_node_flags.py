"""Component command lines and systemd units, read as the components and systemd read them."""

from __future__ import annotations

from typing import ClassVar

import pytest

from kubefort.analysis.node.flags import (
    component,
    components,
    parse_bool,
    parse_duration,
    parse_feature_gates,
    parse_flags,
)
from kubefort.analysis.node.systemd import parse_env_file, read_unit
from kubefort.model.objects import K8sObject, Source


def pod(container: dict, kind: str = "Pod") -> K8sObject:
    spec = {"containers": [container]}
    raw = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "kube-system"}, "spec": spec}
    if kind == "Deployment":
        raw = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "p", "namespace": "cp"},
            "spec": {"template": {"spec": spec}},
        }
    return K8sObject.from_raw(raw, Source(file="t.yaml"))


class TestFlags:
    def test_last_occurrence_wins(self) -> None:
        f = parse_flags(["--profiling=false", "--authorization-mode=Node,RBAC", "--profiling=true"])
        assert f.value("profiling") == "true"
        assert f.bool("profiling", False) is True
        assert f.get("profiling").index == 2

    def test_bare_boolean_is_true_and_does_not_take_the_next_word(self) -> None:
        f = parse_flags(["--anonymous-auth", "false", "--secure-port", "6443"])
        assert f.bool("anonymous-auth", False) is True  # pflag: "false" is a positional argument
        assert f.value("secure-port") == "6443"

    def test_space_separated_value_and_go_single_dash(self) -> None:
        f = parse_flags(["-data-dir", "/var/lib/etcd", "-client-cert-auth=true", "--name", "etcd-0"])
        assert f.value("data-dir") == "/var/lib/etcd"
        assert f.bool("client-cert-auth", False) is True
        assert f.value("name") == "etcd-0"

    def test_unset_takes_default_and_invalid_bool_is_none(self) -> None:
        f = parse_flags(["--profiling=maybe"])
        assert f.bool("anonymous-auth", True) is True
        assert f.bool("profiling", True) is None

    @pytest.mark.parametrize(
        "text,value",
        [
            ("1", True),
            ("t", True),
            ("TRUE", True),
            ("True", True),
            ("0", False),
            ("F", False),
            ("false", False),
            ("yes", None),
            ("", None),
        ],
    )
    def test_go_booleans(self, text: str, value: bool | None) -> None:
        assert parse_bool(text) is value

    def test_lists_and_feature_gates(self) -> None:
        f = parse_flags(["--enable-admission-plugins=NodeRestriction, EventRateLimit,,AlwaysPullImages"])
        assert f.items("enable-admission-plugins") == ["NodeRestriction", "EventRateLimit", "AlwaysPullImages"]
        assert parse_feature_gates("A=true,B=false,A=false,C=bogus") == {"A": False, "B": False, "C": None}

    @pytest.mark.parametrize(
        "text,seconds",
        [
            ("4h", 14400),
            ("1h30m", 5400),
            ("300s", 300),
            ("0", 0),
            ("0s", 0),
            ("1.5m", 90),
            ("250ms", 0.25),
            ("15", None),
            ("4 h", None),
        ],
    )
    def test_go_durations(self, text: str, seconds: float | None) -> None:
        assert parse_duration(text) == seconds


class TestComponents:
    def test_static_pod_command(self) -> None:
        c = component(
            pod(
                {
                    "name": "kube-apiserver",
                    "image": "registry.k8s.io/kube-apiserver:v1.31.2",
                    "command": ["kube-apiserver", "--profiling=false"],
                }
            ),
            "kube-apiserver",
        )
        assert c is not None and c.value("profiling") == "false"
        assert c.at("profiling") == ("spec", "containers", 0, "command", 1)
        assert c.at("anonymous-auth") == ("spec", "containers", 0, "command")
        assert c.version == "1.31.2"

    def test_command_and_args_are_one_command_line(self) -> None:
        c = component(
            pod({"name": "x", "command": ["/usr/local/bin/kube-scheduler"], "args": ["--bind-address=0.0.0.0"]}),
            "kube-scheduler",
        )
        assert c is not None and c.at("bind-address") == ("spec", "containers", 0, "args", 0)

    def test_shell_wrapper(self) -> None:
        c = component(
            pod(
                {
                    "name": "etcd",
                    "command": [
                        "/bin/sh",
                        "-c",
                        "exec etcd --auto-tls=true --data-dir '/var/lib/etcd data' && echo done",
                    ],
                }
            ),
            "etcd",
        )
        assert c is not None
        assert c.value("data-dir") == "/var/lib/etcd data"
        assert c.bool("auto-tls", False) is True
        assert "echo" not in c.argv  # stops at the shell operator
        assert c.at("auto-tls") == ("spec", "containers", 0, "command", 2)

    def test_go_runner_and_hyperkube(self) -> None:
        c = component(
            pod(
                {
                    "name": "api",
                    "command": [
                        "/go-runner",
                        "--log-file=/var/log/kube-apiserver.log",
                        "--",
                        "/usr/local/bin/kube-apiserver",
                        "--secure-port=6443",
                    ],
                }
            ),
            "kube-apiserver",
        )
        assert c is not None and c.value("secure-port") == "6443" and "log-file" not in c.flags
        h = component(
            pod({"name": "cm", "command": ["/hyperkube", "controller-manager", "--profiling=false"]}),
            "kube-controller-manager",
        )
        assert h is not None and h.value("profiling") == "false"

    def test_image_entrypoint_with_args_only(self) -> None:
        c = component(
            pod(
                {
                    "name": "kube-proxy",
                    "image": "registry.k8s.io/kube-proxy:v1.36.4",
                    "args": ["--metrics-bind-address=0.0.0.0:10249"],
                }
            ),
            "kube-proxy",
        )
        assert c is not None and c.value("metrics-bind-address") == "0.0.0.0:10249"

    def test_component_image_running_something_else_is_not_the_component(self) -> None:
        assert (
            components(pod({"name": "debug", "image": "registry.k8s.io/etcd:3.5.21-0", "command": ["sleep", "3600"]}))
            == {}
        )

    def test_unrelated_pods_and_deployments(self) -> None:
        assert components(pod({"name": "web", "image": "nginx:1.27", "args": ["--bind-address=0.0.0.0"]})) == {}
        d = component(
            pod({"name": "kube-apiserver", "command": ["kube-apiserver"]}, kind="Deployment"), "kube-apiserver"
        )
        assert d is not None and d.container_path == ("spec", "template", "spec", "containers", 0)


class TestSystemd:
    FILES: ClassVar[dict[str, str]] = {
        "/usr/lib/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n",
        "/usr/lib/systemd/system/kubelet.service.d/": "10-kubeadm.conf\n20-extra.conf",
        "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": (
            "[Service]\n"
            'Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf '
            '--kubeconfig=/etc/kubernetes/kubelet.conf"\n'
            'Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml" ONE="a b"\n'
            "EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\n"
            "EnvironmentFile=-/etc/default/kubelet\n"
            "ExecStart=\n"
            "ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS \\\n"
            "    $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS ${ONE} --v=$VERBOSITY\n"
        ),
        "/usr/lib/systemd/system/kubelet.service.d/20-extra.conf": "[Service]\nEnvironment=VERBOSITY=2\n",
        "/etc/systemd/system/kubelet.service.d/": "20-extra.conf",
        "/etc/systemd/system/kubelet.service.d/20-extra.conf": "[Service]\nEnvironment=VERBOSITY=4\n",
        "/var/lib/kubelet/kubeadm-flags.env": 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n',
        "/etc/default/kubelet": "# extra\nKUBELET_EXTRA_ARGS=--anonymous-auth=true\nKUBELET_CONFIG_ARGS=--config=/etc/kubelet.yaml\n",
    }

    def read(self, path: str) -> str | None:
        return self.FILES.get(path)

    def test_kubeadm_drop_in_expansion(self) -> None:
        u = read_unit("kubelet.service", self.read)
        assert u is not None
        words = [w.text for w in u.argv]
        assert words == [
            "/usr/bin/kubelet",
            "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
            "--kubeconfig=/etc/kubernetes/kubelet.conf",
            "--config=/etc/kubelet.yaml",  # EnvironmentFile= overrides Environment=
            "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
            "--anonymous-auth=true",
            "a b",  # ${VAR} is one word
            "--v=4",  # the /etc drop-in hides the /usr/lib one of the same name
        ]
        # provenance: each word points at the file and line it came from
        assert u.argv[5].file == "/etc/default/kubelet" and u.argv[5].line == 2
        assert u.argv[1].file.endswith("10-kubeadm.conf") and u.argv[1].line == 2
        assert "/etc/systemd/system/kubelet.service.d/20-extra.conf" in u.files

    def test_missing_unit_and_mandatory_env_file(self) -> None:
        assert read_unit("kube-apiserver.service", self.read) is None
        files = {
            "/etc/systemd/system/etcd.service": "[Service]\nEnvironmentFile=/etc/etcd.env\nExecStart=/usr/bin/etcd\n"
        }
        u = read_unit("etcd.service", files.get)
        assert u is not None and u.missing_env_files == ["/etc/etcd.env"]

    def test_env_file_quotes_and_comments(self) -> None:
        assert parse_env_file("# c\nA=\"x y\"\nB='z'\nC=plain\n") == [("A", "x y", 2), ("B", "z", 3), ("C", "plain", 4)]


def test_systemd_specifiers_and_environment() -> None:
    """Debian's etcd.service: settings in ETCD_* variables, an EnvironmentFile named with %p."""
    files = {
        "/lib/systemd/system/etcd.service": (
            "[Service]\nEnvironment=DAEMON_ARGS=\nEnvironment=ETCD_NAME=%H\n"
            "Environment=ETCD_DATA_DIR=/var/lib/etcd/default\nEnvironmentFile=-/etc/default/%p\n"
            "ExecStart=/usr/bin/etcd $DAEMON_ARGS\n"
        ),
        "/etc/default/etcd": 'ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379\nDAEMON_ARGS="--auto-tls --name etcd-0"\n',
    }
    u = read_unit("etcd.service", files.get)
    assert u is not None
    assert [w.text for w in u.argv] == ["/usr/bin/etcd", "--auto-tls", "--name", "etcd-0"]
    assert u.env["ETCD_DATA_DIR"] == "/var/lib/etcd/default" and u.env["ETCD_NAME"] == "%H"
    assert u.env["ETCD_LISTEN_CLIENT_URLS"] == "http://0.0.0.0:2379"
    assert "/etc/default/etcd" in u.files
