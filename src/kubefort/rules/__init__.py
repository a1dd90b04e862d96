"""The rule catalogue: one module per area, listed here by name (nothing registers on import).

Third-party packs are added through the ``kubefort.rules`` entry point: an object with a ``RULES``
sequence of :class:`kubefort.engine.rule.Rule`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from ..engine.registry import Registry
from ..engine.rule import Rule

AREA_MODULES = (
    "images",
    "pod_privilege",
    "pod_hardening",
    "pod_hygiene",
    "secrets",
    "mtls",
    "admission",
    "runtime",
    "backup",
    "network",
    "rbac",
    "control_plane",
    "node",
    "etcd_config",
    "encryption",
    "versions",
    "schema",
    "image_config",
    "vulnerabilities",
    "dockerfile",
    "graph",
)


def builtin_rules() -> list[Rule]:
    out: list[Rule] = []
    for name in AREA_MODULES:
        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # area not written yet
            raise
        out.extend(mod.RULES)
    return out


def default_registry(*, plugins: bool = True) -> Registry:
    reg = Registry(builtin_rules())
    if plugins:
        for ep in entry_points(group="kubefort.rules"):
            for r in getattr(ep.load(), "RULES", ()):
                reg.add(r)
    return reg
