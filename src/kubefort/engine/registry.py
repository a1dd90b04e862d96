"""The set of known rules and the selection of the ones a scan runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import UsageError
from .rule import PssLevel, Rule, Severity


class Registry:
    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        self._keys: dict[str, str] = {}
        for r in rules:
            self.add(r)

    def add(self, r: Rule) -> None:
        m = r.meta
        for key in (m.id, m.slug, *m.aliases):
            if key in self._keys:
                raise ValueError(f"duplicate rule key {key!r} ({m.id} and {self._keys[key]})")
            self._keys[key] = m.id
        self._rules[m.id] = r

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: _sort_key(r.meta.id)))

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, key: str) -> Rule:
        rid = self._keys.get(key) or self._keys.get(key.upper())
        if rid is None:
            raise UsageError(f"unknown rule {key!r}: see 'kubefort rules list'")
        return self._rules[rid]

    def resolve(self, keys: Iterable[str]) -> list[Rule]:
        out = []
        for k in keys:
            k = k.strip()
            if not k:
                continue
            if k.endswith("*"):  # area prefix, e.g. KF-POD-*
                matched = [r for r in self if r.meta.id.startswith(k[:-1].upper())]
                if not matched:
                    raise UsageError(f"no rule matches {k!r}")
                out.extend(matched)
            else:
                out.append(self.get(k))
        return out

    def select(
        self,
        *,
        only: Iterable[str] = (),
        skip: Iterable[str] = (),
        enable: Iterable[str] = (),
        pss: PssLevel | None = None,
        min_severity: Severity = Severity.INFO,
    ) -> list[Rule]:
        only_l = self.resolve(only)
        skip_ids = {r.meta.id for r in self.resolve(skip)}
        enable_ids = {r.meta.id for r in self.resolve(enable)}
        if pss is not None:
            levels = {PssLevel.BASELINE} if pss is PssLevel.BASELINE else {PssLevel.BASELINE, PssLevel.RESTRICTED}
            chosen = [r for r in self if any(c.level in levels for c in r.meta.pss)]
            if only_l:
                only_ids = {r.meta.id for r in only_l}
                chosen = [r for r in chosen if r.meta.id in only_ids]
        elif only_l:
            seen: set[str] = set()
            chosen = [r for r in only_l if not (r.meta.id in seen or seen.add(r.meta.id))]  # type: ignore[func-returns-value]
        else:
            chosen = [r for r in self if r.meta.enabled or r.meta.id in enable_ids]
        # A rule whose every sub-code is below min_severity could still emit higher sub-codes, so the
        # threshold filters findings, not rules; rules are dropped only when even their default is far below.
        del min_severity
        return [r for r in chosen if r.meta.id not in skip_ids]


def _sort_key(rid: str) -> tuple[str, int]:
    area, _, num = rid.rpartition("-")
    return (area, int(num) if num.isdigit() else 0)
