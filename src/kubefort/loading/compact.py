"""Objects held in less memory: what repeats across them is kept once.

A cluster is repetitive: the Pods of a ReplicaSet are copies of its template, every Pod has the same
two tolerations, condition types, ``IfNotPresent``, ``TCP``, ``True``, image names, labels. So are a
repository's manifests, less so. A parser makes a new Python object for each occurrence: 150,000 Pods
are about 20 KB each in memory for 3.5 KB of JSON; parsed YAML manifests take ~4.7 KB per object
(syn-10k). :class:`Compactor` walks each object once as it is read (cluster reads, snapshots, and the
files of a scan: ``loading.loader.build_objects``) and replaces

- strings of up to 64 characters by one shared instance each (values; keys are left as the parser
  made them: sharing them would mean building every mapping again, which costs more than it saves);
- dicts whose values are all scalars (a port, a resource request, a label set, a toleration) and lists
  of scalars or of such shared dicts, of up to 16 entries, by one shared instance per content (the
  key includes each value's type: ``1``, ``1.0`` and ``True`` stay distinct).

The objects are equal to what was read, and nothing in kubefort writes into an object once read, so
sharing is invisible but for the memory (code that edits a copy makes it with :func:`unshared`:
``copy.deepcopy`` keeps the sharing inside the copy, so an edit at one place would show at another): about 40% less for a cluster's Pods (docs/cluster.md,
"Scale"), half for syn-10k's parsed manifests (47 -> 24 MB, 0.12 s of CPU). A test scans every rule
fixture and checks that no object changed. Objects themselves (the top level) are never shared. The
tables live as long as the read. Only plain JSON scalars are shared by value: a mapping holding
another type (a YAML timestamp) is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_STRING = 64  # longer strings (certificates, scripts, uids are 36) rarely repeat
MAX_SHARED = 16  # entries of a dict or list shared by content
#: levels of nesting walked; deeper parts are left as they are (hostile input nests 100,000 levels: the
#: walk must not exhaust the stack; a Kubernetes object, CRD schemas included, rarely has 40)
MAX_DEPTH = 100

_SCALARS = (str, int, float, bool, type(None))


class Compactor:
    """Shares the repeated parts of the objects given to it (one per cluster read)."""

    __slots__ = ("shared", "strings")

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.shared: dict[tuple[Any, ...], Any] = {}

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        """``item``, its parts replaced by shared equal ones (in place; the item itself is kept)."""
        self._dict(item, 0)
        return item

    def _dict(self, v: dict[str, Any], depth: int) -> bool:
        """Compact the values of ``v``; True when they are all scalars (then ``v`` may be shared)."""
        if depth > MAX_DEPTH:
            return False
        depth += 1
        strings = self.strings
        leaf = True
        for k, x in v.items():
            t = type(x)
            if t is str:
                if len(x) <= MAX_STRING:
                    v[k] = strings.setdefault(x, x)
            elif t is dict:
                v[k] = self._shared_dict(x, depth)[0]
                leaf = False
            elif t is list:
                v[k] = self._list(x, depth)
                leaf = False
            elif t not in _SCALARS:
                leaf = False
        return leaf

    def _shared_dict(self, v: dict[str, Any], depth: int) -> tuple[Any, bool]:
        """``v`` or the shared dict equal to it, and whether that is shared."""
        if self._dict(v, depth) and len(v) <= MAX_SHARED:
            key = ("d", tuple(v.items()), tuple(map(type, v.values())))
            return self.shared.setdefault(key, v), True
        return v, False

    def _list(self, v: list[Any], depth: int) -> Any:
        if depth > MAX_DEPTH:
            return v
        depth += 1
        strings = self.strings
        plain = True  # every item a scalar or a shared dict: the list may be shared too
        for i, x in enumerate(v):
            t = type(x)
            if t is str:
                if len(x) <= MAX_STRING:
                    v[i] = strings.setdefault(x, x)
            elif t is dict:
                v[i], shared = self._shared_dict(x, depth)
                plain = plain and shared
            elif t is list:
                v[i] = self._list(x, depth)
                plain = False
            elif t not in _SCALARS:
                plain = False
        if plain and len(v) <= MAX_SHARED:
            # a shared dict is named by its identity: the table holds it, so no other object takes its id
            key = ("l", tuple([x if type(x) in _SCALARS else ("shared", id(x)) for x in v]), tuple(map(type, v)))
            return self.shared.setdefault(key, v)
        return v


def unshared(data: Any) -> Any:
    """A deep copy of ``data`` (plain mappings, lists and scalars) in which no mapping or list appears
    twice: what to edit. ``copy.deepcopy`` would keep the parts :class:`Compactor` shares shared within
    the copy (two containers' equal ``securityContext`` one mapping: setting a field in one sets it in
    both)."""
    if isinstance(data, Mapping):
        return {k: unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [unshared(v) for v in data]
    return data
