"""EncryptionConfiguration (``apiserver.config.k8s.io/v1``), read as the API server reads it
(``staging/src/k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go``):

- ``resources[*].resources`` names resources as ``resource.group``: ``secrets`` (core group),
  ``deployments.apps``; ``*.`` is every core resource, ``*.apps`` every resource of a group, ``*.*``
  everything. For a resource, the first entry that names it decides.
- In that entry, the first provider encrypts new writes; all providers can decrypt. ``identity``
  first means new objects are stored in clear.
- aescbc and aesgcm keys are base64 of 16, 24 or 32 bytes; secretbox keys are 32 bytes. KMS v2
  (``apiVersion: v2``) is GA since 1.29; KMS v1 is deprecated since 1.28 and off by default since 1.29.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...model.objects import K8sObject, Path

PROVIDERS = ("identity", "aescbc", "aesgcm", "secretbox", "kms")
LOCAL_KEY_PROVIDERS = ("aescbc", "aesgcm", "secretbox")


def is_encryption_config(obj: K8sObject) -> bool:
    return obj.kind == "EncryptionConfiguration" and obj.api_version.startswith("apiserver.config.k8s.io/")


@dataclass(frozen=True, slots=True)
class Provider:
    type: str  # identity | aescbc | aesgcm | secretbox | kms | unknown
    config: Mapping[str, Any]
    path: Path  # path of the provider's configuration (e.g. resources[0].providers[1].aescbc)

    @property
    def kms_version(self) -> str:
        v = self.config.get("apiVersion") if isinstance(self.config, dict) else None
        return str(v) if v else "v1"

    @property
    def name(self) -> str:
        n = self.config.get("name") if isinstance(self.config, dict) else None
        return str(n) if n else ""


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    index: int
    resources: tuple[str, ...]
    providers: tuple[Provider, ...]

    @property
    def path(self) -> Path:
        return ("resources", self.index)

    @property
    def first(self) -> Provider | None:
        return self.providers[0] if self.providers else None


def _provider(raw: Any, path: Path) -> Provider:
    if isinstance(raw, dict):
        for t in PROVIDERS:
            if t in raw:
                cfg = raw.get(t)
                return Provider(t, cfg if isinstance(cfg, dict) else {}, path + (t,))
    return Provider("unknown", {}, path)


def entries(raw: Mapping[str, Any]) -> list[ResourceEntry]:
    out: list[ResourceEntry] = []
    res = raw.get("resources")
    if not isinstance(res, list):
        return out
    for i, e in enumerate(res):
        if not isinstance(e, dict):
            continue
        names = (
            tuple(str(x) for x in e.get("resources", []) if isinstance(x, str))
            if isinstance(e.get("resources"), list)
            else ()
        )
        provs = e.get("providers")
        providers = (
            tuple(_provider(p, ("resources", i, "providers", j)) for j, p in enumerate(provs))
            if isinstance(provs, list)
            else ()
        )
        out.append(ResourceEntry(i, names, providers))
    return out


def covers(name: str, resource: str, group: str = "") -> bool:
    """Whether a ``resources`` item names ``resource`` of ``group`` ("" is core)."""
    n = name.strip().lower()
    full = f"{resource}.{group}" if group else resource
    if n in (full, "*.*"):
        return True
    if not group and n in ("*.", f"{resource}."):
        return True
    return bool(group) and n == f"*.{group}"


def entry_for(raw: Mapping[str, Any], resource: str = "secrets", group: str = "") -> ResourceEntry | None:
    """The first entry that names the resource (that entry decides how it is stored)."""
    for e in entries(raw):
        if any(covers(n, resource, group) for n in e.resources):
            return e
    return None


@dataclass(frozen=True, slots=True)
class KeyProblem:
    path: Path
    message: str
    kind: str  # invalid | short | duplicate_name | duplicate_secret


def key_problems(p: Provider) -> Iterator[KeyProblem]:
    """Problems of the keys of an aescbc, aesgcm or secretbox provider; messages name keys, never values."""
    if p.type not in LOCAL_KEY_PROVIDERS:
        return
    keys = p.config.get("keys")
    if not isinstance(keys, list) or not keys:
        yield KeyProblem(p.path, f"{p.type} provider has no keys", "invalid")
        return
    names: dict[str, int] = {}
    secrets: dict[bytes, str] = {}
    for i, k in enumerate(keys):
        path = p.path + ("keys", i)
        if not isinstance(k, dict):
            yield KeyProblem(path, f"{p.type} key #{i} is not a mapping", "invalid")
            continue
        name = str(k.get("name") or f"#{i}")
        if name in names:
            yield KeyProblem(path + ("name",), f'{p.type} key name "{name}" is used twice', "duplicate_name")
        names[name] = i
        secret = k.get("secret")
        try:
            raw = base64.b64decode(str(secret), validate=True) if isinstance(secret, str) and secret else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None:
            yield KeyProblem(path + ("secret",), f'{p.type} key "{name}" is not valid base64', "invalid")
            continue
        n = len(raw)
        if p.type == "secretbox":
            if n != 32:
                yield KeyProblem(path + ("secret",), f'secretbox key "{name}" is {n} bytes; it must be 32', "invalid")
        elif n not in (16, 24, 32):
            yield KeyProblem(
                path + ("secret",), f'{p.type} key "{name}" is {n} bytes; AES needs 16, 24 or 32', "invalid"
            )
        elif n < 32:
            yield KeyProblem(
                path + ("secret",), f'{p.type} key "{name}" is {n} bytes (AES-{n * 8}); use 32 bytes', "short"
            )
        if raw in secrets and secrets[raw] != name:
            yield KeyProblem(
                path + ("secret",),
                f'{p.type} keys "{secrets[raw]}" and "{name}" hold the same secret',
                "duplicate_secret",
            )
        secrets.setdefault(raw, name)
