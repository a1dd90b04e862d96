"""Helpers of the pod hardening rules: sysctl safe sets by version, name normalisation, versions."""

from __future__ import annotations

import pytest

from kubefort.engine.rule import NotEvaluated
from kubefort.rules.pod_hardening import _parse_version, normalise_sysctl, safe_sysctls


def test_safe_sysctls_grow_with_the_policy_version() -> None:
    assert "net.ipv4.ip_local_reserved_ports" not in safe_sysctls((1, 26))
    assert "net.ipv4.ip_local_reserved_ports" in safe_sysctls((1, 27))
    assert "net.ipv4.tcp_keepalive_probes" not in safe_sysctls((1, 28))
    assert "net.ipv4.tcp_keepalive_probes" in safe_sysctls((1, 29))
    assert "net.ipv4.tcp_wmem" not in safe_sysctls((1, 31))
    assert "net.ipv4.tcp_wmem" in safe_sysctls((1, 32))
    newest = safe_sysctls(None)
    assert {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"} <= newest
    assert "net.core.somaxconn" not in newest
    assert len(safe_sysctls((1, 0))) == 5


@pytest.mark.parametrize(
    "name,expected",
    [
        ("net.ipv4.ip_local_port_range", "net.ipv4.ip_local_port_range"),
        ("net/ipv4/ip_local_port_range", "net.ipv4.ip_local_port_range"),
        ("net/ipv4/conf/eno2.100/rp_filter", "net.ipv4.conf.eno2/100.rp_filter"),
        ("net.ipv4.conf.eno2/100.rp_filter", "net.ipv4.conf.eno2/100.rp_filter"),
        ("kernel", "kernel"),
    ],
)
def test_normalise_sysctl(name: str, expected: str) -> None:
    assert normalise_sysctl(name) == expected


@pytest.mark.parametrize(
    "value,expected",
    [
        (None, None),
        ("newest", None),
        ("latest", None),
        ("", None),
        ("1.29", (1, 29)),
        ("v1.30", (1, 30)),
        ("1.32.4", (1, 32)),
        (1.27, (1, 27)),
    ],
)
def test_parse_version(value: object, expected: object) -> None:
    assert _parse_version(value) == expected


@pytest.mark.parametrize("value", [1.3, "one.two", 7, [1, 29]])
def test_parse_version_rejects_ambiguous_or_bad_values(value: object) -> None:
    with pytest.raises(NotEvaluated):
        _parse_version(value)
