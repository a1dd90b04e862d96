"""Pod templates and containers of pod-bearing objects, with Kubernetes' effective security context.

Semantics (Kubernetes ``pkg/securitycontext.DetermineEffectiveSecurityContext``):

- ``runAsUser``, ``runAsGroup``, ``runAsNonRoot``, ``seLinuxOptions``, ``seccompProfile`` and
  ``appArmorProfile`` are on both the pod and the container security context: the container value
  wins when set, otherwise the pod value applies. ``seLinuxOptions``, ``seccompProfile`` and
  ``appArmorProfile`` are replaced whole, never merged field by field.
- ``windowsOptions`` is merged field by field (``gmsaCredentialSpecName``, ``gmsaCredentialSpec``,
  ``runAsUserName``, ``hostProcess``): a container setting one field keeps the pod's others. The two
  GMSA fields go hand in hand: a container setting either of them replaces both (the one it leaves
  unset becomes unset, not the pod's value).
- ``privileged``, ``allowPrivilegeEscalation``, ``capabilities``, ``readOnlyRootFilesystem`` and
  ``procMount`` exist only on containers; ``fsGroup``, ``supplementalGroups``, ``sysctls`` only on pods.
- Init containers with ``restartPolicy: Always`` are sidecars: they run for the pod's whole life.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .kinds import POD_SPEC_PATHS
from .objects import InvalidField, K8sObject, Path, get_path

_EMPTY: Mapping[str, Any] = {}
_NAME_MAX = 63  # longest valid container name (DNS label)
#: how findings name a container of each list
_LIST_LABEL = {
    "containers": "container",
    "initContainers": "init container",
    "ephemeralContainers": "ephemeral container",
}

#: Fields present on both pod and container security contexts.
SHARED_FIELDS = ("runAsUser", "runAsGroup", "runAsNonRoot", "seLinuxOptions", "seccompProfile", "appArmorProfile")
WINDOWS_FIELDS = ("gmsaCredentialSpecName", "gmsaCredentialSpec", "runAsUserName", "hostProcess")
GMSA_FIELDS = ("gmsaCredentialSpecName", "gmsaCredentialSpec")


class _Unreadable(dict[str, Any]):
    """A pod spec that schema validation found invalid as a whole (``template: "x"``): while its object
    is judged every read raises, so the pod and container rules are not evaluated rather than passed."""

    __slots__ = ("_reason",)

    def __init__(self, reason: str) -> None:
        super().__init__()
        self._reason = reason

    def _fail(self, *_: Any) -> Any:
        raise InvalidField(self._reason)

    __getitem__ = get = __contains__ = items = values = keys = __iter__ = _fail


class ContainerSet(str, Enum):
    """Which containers a rule looks at (catalogue legend 2)."""

    ALL = "ALL"  # containers + initContainers + ephemeralContainers
    CI = "C+I"  # containers + initContainers
    C = "C"  # containers + sidecar init containers (restartPolicy: Always)


@dataclass(frozen=True, slots=True)
class Effective:
    """An effective setting: its value and the path it came from (None when unset everywhere)."""

    value: Any
    path: Path | None

    @property
    def is_set(self) -> bool:
        return self.path is not None


@dataclass(frozen=True, slots=True, eq=False)
class PodSpecView:
    """The pod spec of a pod-bearing object, with the metadata of its pod template."""

    obj: K8sObject
    spec: Mapping[str, Any]
    path: Path  # path of the pod spec inside the object
    meta_path: Path  # path of the pod metadata inside the object

    @property
    def metadata(self) -> Mapping[str, Any]:
        md = self.obj.get(*self.meta_path)
        return md if isinstance(md, dict) else _EMPTY

    @property
    def labels(self) -> Mapping[str, Any]:
        v = self.metadata.get("labels")
        return v if isinstance(v, dict) else _EMPTY

    @property
    def annotations(self) -> Mapping[str, Any]:
        v = self.metadata.get("annotations")
        return v if isinstance(v, dict) else _EMPTY

    @property
    def security_context(self) -> Mapping[str, Any]:
        v = self.spec.get("securityContext")
        return v if isinstance(v, dict) else _EMPTY

    @property
    def sc_path(self) -> Path:
        return self.path + ("securityContext",)

    @property
    def is_windows(self) -> bool:
        os_ = self.spec.get("os")
        return isinstance(os_, dict) and os_.get("name") == "windows"

    @property
    def host_users_false(self) -> bool:
        """``hostUsers: false``: the pod runs in its own user namespace."""
        return self.spec.get("hostUsers") is False

    def at(self, *rest: str | int) -> Path:
        return self.path + rest

    def volumes(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        vols = self.spec.get("volumes")
        if isinstance(vols, list):
            for i, v in enumerate(vols):
                if isinstance(v, dict):
                    yield i, v

    def containers(self, which: ContainerSet = ContainerSet.ALL) -> tuple[ContainerView, ...]:
        """The containers of ``which`` set, in pod order (init containers first); computed once per set."""
        memo = self.obj.memo
        key = ("containers", which, self.path, self.obj.judged)  # judged: invalid items raise, not skipped
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = tuple(self._containers(which))
        return hit

    def _containers(self, which: ContainerSet) -> Iterator[ContainerView]:
        lists: tuple[str, ...]
        if which is ContainerSet.ALL:
            lists = ("initContainers", "containers", "ephemeralContainers")
        else:
            lists = ("initContainers", "containers")
        for list_name in lists:
            items = self.spec.get(list_name)
            if not isinstance(items, list):
                continue
            for i, c in enumerate(items):
                if not isinstance(c, dict):
                    continue
                sidecar = list_name == "initContainers" and c.get("restartPolicy") == "Always"
                if which is ContainerSet.C and list_name == "initContainers" and not sidecar:
                    continue
                yield ContainerView(pod=self, raw=c, list_name=list_name, index=i, is_sidecar=sidecar)


@dataclass(frozen=True, slots=True, eq=False)
class ContainerView:
    """One container of a pod spec."""

    pod: PodSpecView
    raw: Mapping[str, Any]
    list_name: str  # containers | initContainers | ephemeralContainers
    index: int
    is_sidecar: bool = False

    @property
    def name(self) -> str:
        n = self.raw.get("name")
        return n if isinstance(n, str) else f"#{self.index}"

    @property
    def obj(self) -> K8sObject:
        return self.pod.obj

    @property
    def path(self) -> Path:
        return self.pod.path + (self.list_name, self.index)

    def at(self, *rest: str | int) -> Path:
        return self.path + rest

    @property
    def label(self) -> str:
        """How findings name the container: ``container "app"`` / ``init container "setup"``."""
        name = self.name
        if len(name) > _NAME_MAX:  # never valid (a DNS label): quoted cut, as hostile input may be huge
            name = f"{name[: _NAME_MAX - 3]}… ({len(name)} characters)"
        return f'{_LIST_LABEL[self.list_name]} "{name}"'

    @property
    def image(self) -> Any:
        return self.raw.get("image")

    @property
    def security_context(self) -> Mapping[str, Any]:
        v = self.raw.get("securityContext")
        return v if isinstance(v, dict) else _EMPTY

    @property
    def sc_path(self) -> Path:
        return self.path + ("securityContext",)

    def sc(self, field: str) -> Effective:
        """A container-only security context field (privileged, capabilities, ...)."""
        sc = self.security_context
        if field in sc and sc[field] is not None:
            return Effective(sc[field], self.sc_path + (field,))
        return Effective(None, None)

    def effective(self, field: str) -> Effective:
        """Effective value of a field shared by pod and container security contexts."""
        if field == "windowsOptions":
            return self._effective_windows()
        sc = self.security_context
        if field in sc and sc[field] is not None:
            return Effective(sc[field], self.sc_path + (field,))
        psc = self.pod.security_context
        if field in psc and psc[field] is not None:
            return Effective(psc[field], self.pod.sc_path + (field,))
        return Effective(None, None)

    def _effective_windows(self) -> Effective:
        pod_w = self.pod.security_context.get("windowsOptions")
        ctr_w = self.security_context.get("windowsOptions")
        pod_w = pod_w if isinstance(pod_w, dict) else None
        ctr_w = ctr_w if isinstance(ctr_w, dict) else None
        if pod_w is None and ctr_w is None:
            return Effective(None, None)
        merged = {k: v for k, v in (pod_w or {}).items() if v is not None}
        if ctr_w is not None:
            if any(ctr_w.get(f) is not None for f in GMSA_FIELDS):
                # Kubernetes copies both GMSA fields from the container when it sets either one
                for f in GMSA_FIELDS:
                    if ctr_w.get(f) is not None:
                        merged[f] = ctr_w[f]
                    else:
                        merged.pop(f, None)
            for f in WINDOWS_FIELDS:
                if f not in GMSA_FIELDS and ctr_w.get(f) is not None:
                    merged[f] = ctr_w[f]
        path = self.sc_path + ("windowsOptions",) if ctr_w is not None else self.pod.sc_path + ("windowsOptions",)
        return Effective(merged, path)

    def capabilities(self, which: str) -> list[str]:
        """Normalised capability names in ``add`` or ``drop``: upper case, no ``CAP_`` prefix."""
        caps = self.security_context.get("capabilities")
        if not isinstance(caps, dict):
            return []
        items = caps.get(which)
        if not isinstance(items, list):
            return []
        return [normalise_capability(x) for x in items if isinstance(x, str)]


def normalise_capability(name: str) -> str:
    n = name.strip().upper()
    return n[4:] if n.startswith("CAP_") else n


def pod_spec(obj: K8sObject) -> PodSpecView | None:
    """The pod spec of a pod-bearing object, or None (computed once per object)."""
    if obj.judged and obj.invalid is not None:
        unreadable = _unreadable_spec(obj)
        if unreadable is not None:
            return unreadable
    memo = obj.memo
    if "pod" in memo:
        return memo["pod"]  # type: ignore[no-any-return]
    view = memo["pod"] = _pod_spec(obj)
    return view


def _pod_spec(obj: K8sObject) -> PodSpecView | None:
    paths = POD_SPEC_PATHS.get(obj.kind)
    if paths is None:
        return None
    meta_path, spec_path = paths
    spec = get_path(obj.raw, spec_path) if obj.invalid is None else obj.get(*spec_path)  # guarded if need be
    if not isinstance(spec, dict):
        return None
    return PodSpecView(obj=obj, spec=spec, path=spec_path, meta_path=meta_path)


def _unreadable_spec(obj: K8sObject) -> PodSpecView | None:
    """For an object being judged whose pod spec path is invalid: a view that raises on every read."""
    paths = POD_SPEC_PATHS.get(obj.kind)
    if paths is None:
        return None
    try:
        obj.get(*paths[1])
    except InvalidField as e:
        return PodSpecView(obj=obj, spec=_Unreadable(str(e)), path=paths[1], meta_path=paths[0])
    return None
