"""The ``.kubefort.yaml`` configuration file: rule selection, parameters and exceptions.

Example::

    fail_on: high            # exit 1 when a finding is at or above this severity
    min_severity: low        # hide findings below this severity
    rules:
      disable: [KF-POD-045]  # IDs or slugs
      enable: [KF-POD-025]   # rules that are off by default
    params:                  # catalogue parameters, for every rule that declares them
      allowed_registries: [registry.example.com/team/]
      min_uid: 10000
    exceptions:
      - rules: [KF-POD-001]
        kinds: [DaemonSet]
        namespaces: [monitoring]
        names: ["node-exporter*"]
        reason: node exporter needs host access
        owner: platform-team
        expires: 2027-06-30
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError

CONFIG_NAMES = (".kubefort.yaml", ".kubefort.yml")
_TOP_KEYS = {"fail_on", "min_severity", "rules", "params", "exceptions"}
_EXC_KEYS = {"rules", "kinds", "namespaces", "names", "reason", "owner", "expires"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ExceptionEntry:
    rules: tuple[str, ...]  # IDs or slugs; empty means every rule
    kinds: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()  # globs
    reason: str
    owner: str | None = None
    expires: _dt.date | None = None
    index: int = 0

    def expired(self, today: _dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def matches(self, rule_keys: Iterable[str], kind: str, namespace: str | None, name: str) -> bool:
        if self.rules and not set(self.rules) & set(rule_keys):
            return False
        if self.kinds and kind not in self.kinds:
            return False
        if self.namespaces and not any(fnmatch.fnmatchcase(namespace or "", p) for p in self.namespaces):
            return False
        return not (self.names and not any(fnmatch.fnmatchcase(name, p) for p in self.names))


@dataclass(slots=True)
class Config:
    path: str | None = None
    fail_on: str | None = None
    min_severity: str | None = None
    disable: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    exceptions: list[ExceptionEntry] = field(default_factory=list)


def find_config(paths: Iterable[str]) -> str | None:
    """The config file in the first scanned directory that has one."""
    for p in paths:
        if p != "-" and os.path.isdir(p):
            for name in CONFIG_NAMES:
                cand = os.path.join(p, name)
                if os.path.isfile(cand):
                    return cand
    return None


def _str_list(value: Any, what: str, file: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return tuple(str(v) for v in value)
    raise ConfigError(f"{what} must be a list of strings", file)


def load_config(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read config: {e.strerror}", path) from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise ConfigError(f"invalid YAML{f' at line {line + 1}' if line is not None else ''}", path) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("the config must be a mapping", path)
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(_TOP_KEYS))}", path
        )
    cfg = Config(path=path)
    cfg.fail_on = data.get("fail_on")
    cfg.min_severity = data.get("min_severity")
    rules = data.get("rules") or {}
    if not isinstance(rules, Mapping) or set(rules) - {"enable", "disable"}:
        raise ConfigError("'rules' takes only 'enable' and 'disable' lists", path)
    cfg.enable = _str_list(rules.get("enable"), "rules.enable", path)
    cfg.disable = _str_list(rules.get("disable"), "rules.disable", path)
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError("'params' must be a mapping of parameter name to value", path)
    cfg.params = dict(params)
    excs = data.get("exceptions") or []
    if not isinstance(excs, list):
        raise ConfigError("'exceptions' must be a list", path)
    for i, entry in enumerate(excs):
        where = f"exceptions[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be a mapping", path)
        bad = set(entry) - _EXC_KEYS
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, bad)))}", path)
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: every exception needs a 'reason'", path)
        expires = entry.get("expires")
        if expires is not None and not isinstance(expires, _dt.date):
            try:
                expires = _dt.date.fromisoformat(str(expires))
            except ValueError:
                raise ConfigError(f"{where}: 'expires' must be a date (YYYY-MM-DD)", path) from None
        if isinstance(expires, _dt.datetime):
            expires = expires.date()
        cfg.exceptions.append(
            ExceptionEntry(
                rules=_str_list(entry.get("rules"), f"{where}.rules", path),
                kinds=_str_list(entry.get("kinds"), f"{where}.kinds", path),
                namespaces=_str_list(entry.get("namespaces"), f"{where}.namespaces", path),
                names=_str_list(entry.get("names"), f"{where}.names", path),
                reason=reason.strip(),
                owner=str(entry["owner"]) if entry.get("owner") is not None else None,
                expires=expires,
                index=i,
            )
        )
    return cfg
