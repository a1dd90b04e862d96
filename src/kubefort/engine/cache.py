"""The scan cache (``kubefort scan --cache DIR``): re-scanning a tree where a few files changed gives the
report of a full scan without parsing or judging again what did not change.

What is kept, per input file (one entry file per input file and run key, see docs/performance.md):

- the file's parse (its documents as plain data with what locating a field needs, its parse errors),
  valid while the file's content (SHA-256 of its text) is the same;
- per object of the file, its results in two blocks, in the plain-tuple form worker processes send back
  (:func:`kubefort.engine.parallel._pack`): the steps that judge the object alone
  (``RuleMeta.needs_others`` false), valid while the object is the same (its file's content, its place
  in the file, its identity and the fields schema validation found invalid); and the steps that need other
  objects, valid while, in addition, every object of the kinds those rules read (``needs``, their own
  kinds; the whole input when a rule does not declare them) is the same.

Everything that changes results but is not an input file is in the run key (:func:`run_key`):
kubefort's version and a digest of its own package files, the selected rules and their parameters, the
config's exceptions, the baseline, --pss, --min-severity, schema options. Entries under other run keys
are never read; the most recently used :data:`KEEP_RUNS` run keys are kept, older ones are deleted.

Entries are pickles: a cache directory is trusted like the virtual environment kubefort runs from
(whoever can write into it can run code as the next scan). They are written atomically (a temporary
file renamed); an entry that cannot be read, or that does not match what it is looked up for, is
ignored and computed again. A directory that cannot be written is said once (a warning) and the scan
goes on without storing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import pickle
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..loading.loader import FileResult, file_result, plain_file_result
from ..model.kinds import split_group_kind
from ..model.objects import K8sObject
from .findings import Report
from .parallel import CHUNK, _pack, _unpack
from .rule import RuleMeta
from .runner import PARALLEL_MIN_OBJECTS, Plan, Run

log = logging.getLogger(__name__)

#: the form of entries; bumped when it changes (entries of another form are ignored)
ENTRY_FORMAT = 1
#: run keys (configurations) whose entries are kept: the most recently used ones
KEEP_RUNS = 4
_PREFIX = "run-"

#: the parts of an object's steps: judging it alone, with other objects, with the clock (never kept)
#: entries of input files no scan has read for this many days are deleted
STALE_DAYS = 30
_LOCAL, _CROSS, _CLOCK = 0, 1, 2
_LABELS = ("local", "cross", "clock")
#: parameters that, left empty, make a rule judge at the current date or time (``now``, ``today``)
CLOCK_PARAMS = ("now", "today")
#: rules that read the clock without such a parameter (certificate expiry on a node snapshot)
CLOCK_RULES = frozenset({"KF-NODE-023"})

#: rules that judge an object from the object alone by their metadata (not ``cross_object``), yet read
#: other objects of the inventory: schema validation (custom resources are validated against the CRDs in
#: the input), RBAC lookups of a binding's role. The cache treats them as reading the whole input;
#: tests/unit/test_scan_cache.py finds every such rule on the fixtures and checks it is listed here.
UNDECLARED_READERS = frozenset(
    {"KF-RBAC-014", "KF-RBAC-024", "KF-RBAC-036", "KF-SCHEMA-001", "KF-SCHEMA-002", "KF-SCHEMA-003", "KF-SCHEMA-005"}
)

_PACKAGE_DIGEST: list[str] = []  # computed once per process (the package does not change under it)


def package_digest() -> str:
    """SHA-256 over kubefort's own package files (names and bytes; ~20 ms): a changed rule, engine or
    bundled schema is a new run key even when the version string is not bumped (an editable install)."""
    if not _PACKAGE_DIGEST:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        _PACKAGE_DIGEST.append(tree_digest(root, skip=("__pycache__",)))
    return _PACKAGE_DIGEST[0]


def tree_digest(root: str, skip: Iterable[str] = ()) -> str:
    """SHA-256 over the files below ``root`` (relative names and bytes, in sorted order)."""
    skipped = set(skip)
    h = hashlib.sha256()
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in skipped)
        for f in sorted(files):
            p = os.path.join(d, f)
            h.update(os.path.relpath(p, root).encode("utf-8", "surrogateescape") + b"\0")
            try:
                with open(p, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()


def run_key(parts: Mapping[str, Any]) -> str:
    """The run key: kubefort's package digest and ``parts`` (everything else that changes results:
    kubefort's version, rules, parameters, options, config), by their ``repr``."""
    h = hashlib.sha256()
    h.update(f"{ENTRY_FORMAT}\0{package_digest()}\0".encode())
    for name in sorted(parts):
        h.update(f"{name}={parts[name]!r}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class ScanCache:
    """The entries of one run key in a cache directory, for one scan. The loader asks it for parses
    (:meth:`digest`, :meth:`parsed`, :meth:`keep`), :func:`kubefort.engine.runner.evaluate` for object
    results (:meth:`objects`); :meth:`save` writes what changed."""

    def __init__(self, directory: str, key: str) -> None:
        self.directory, self.key = directory, key
        self.run_dir = os.path.join(directory, _PREFIX + key[:32])
        self.problems: list[str] = []  # said once each, as warnings (the scan goes on)
        self.stats: Counter[str] = Counter()  # hits and misses, for --debug and the benchmark
        self.seconds: defaultdict[str, float] = defaultdict(float)  # time spent judging what was missed (idem)
        self._digests: dict[str, str] = {}  # input file -> digest of its text
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._groups: dict[frozenset[str] | None, bytes | None] = {}  # kinds read -> digest of their objects
        self.writable = True
        try:
            os.makedirs(self.run_dir, exist_ok=True)
            tag = os.path.join(directory, "CACHEDIR.TAG")
            if not os.path.exists(tag):
                self._write(tag, b"Signature: 8a477f597d28d172789f06886806bc55\n# kubefort scan cache\n")
        except OSError as e:
            self._cannot_write(e)

    # -- loading

    def digest(self, name: str, digest: str) -> None:
        """Record the content digest of input file ``name`` (every file the scan reads, Dockerfiles too)."""
        self._digests[name] = digest

    def parsed(self, name: str) -> FileResult | None:
        """The kept parse of ``name`` (whose digest was recorded), or None."""
        data = self._entry(name).get("parsed")
        if data is None:
            self.stats["parse miss"] += 1
            return None
        try:
            result = file_result(marshal.loads(data))
        except Exception:  # a damaged entry: parsed again
            log.debug("unreadable parse in the cache for %s", name, exc_info=True)
            self.stats["parse miss"] += 1
            return None
        self.stats["parse hit"] += 1
        return result

    def keep(self, name: str, result: FileResult) -> None:
        """Keep the parse of ``name``."""
        try:
            data = marshal.dumps(plain_file_result(result))
        except ValueError:  # a value marshal cannot write: not kept
            return
        self._entry(name)["parsed"] = data
        self._dirty.add(name)

    # -- evaluation

    def objects(self, run: Run, objs: Sequence[K8sObject], workers: int = 1) -> None:
        """What ``run.objects(objs)`` does, reusing kept results (see the module docstring); what has to be
        judged is shared out among ``workers`` processes when there is much of it."""
        plan = run.plan

        def clock(m: RuleMeta) -> bool:
            return m.id in CLOCK_RULES or any(n in m.params and not plan.params[m.id].get(n) for n in CLOCK_PARAMS)

        def alone(m: RuleMeta, kind: str) -> bool:
            return not m.needs_others(kind) and m.id not in UNDECLARED_READERS

        parts = (
            plan.part(lambda m, k: alone(m, k) and not clock(m)),
            plan.part(lambda m, k: not alone(m, k) and not clock(m)),
            plan.part(lambda m, k: clock(m)),
        )
        report = run.report
        metas = report.rules
        index = {m.id: i for i, m in enumerate(metas)}
        keys = self._object_keys(run.inventory.objects)
        deps: dict[str, bytes | None] = {}
        stats = self.stats
        rows: list[list[Report | None]] = []  # per object, the blocks of its parts (None: to judge)
        todo: list[tuple[int, int, int, bytes | None]] = []  # (object, block, part, key to keep it under)
        for i, obj in enumerate(objs):
            key = keys.get(id(obj))
            kind = obj.kind
            row: list[Report | None] = []
            for which, part in enumerate(parts):
                if not part.for_kind(kind):
                    continue
                # what reads the clock is judged every time
                full = key[1] if key is not None and which < _CLOCK else None
                if which == _CROSS and key is not None:
                    if kind not in deps:
                        deps[kind] = self._deps(part, kind, run.inventory.objects, keys)
                    dep = deps[kind]
                    full = None if dep is None else key[1] + dep
                block = None
                if key is not None and full is not None:
                    kept = self._entry(key[0]).get("blocks", {}).get((which, key[2]))
                    if kept is not None and kept[0] == full:
                        with contextlib.suppress(Exception):  # a damaged block: judged again
                            block = _unpack(kept[1], [0], [obj], [(0, 1)], metas)[0]
                stats[f"{_LABELS[which]} {'hit' if block is not None else 'miss'}"] += 1
                if block is None:
                    todo.append((i, len(row), which, full))
                row.append(block)
            rows.append(row)
        t0 = time.perf_counter()
        judged = self._judge(run, parts, objs, todo, index, workers)
        self.seconds["judging"] += time.perf_counter() - t0
        for (i, j, which, full), (block, packed) in zip(todo, judged):
            rows[i][j] = block
            key = keys.get(id(objs[i]))
            if key is not None and full is not None:
                if packed is None:
                    packed = _pack(block, [(len(block.findings), len(block.results), len(block.passes))], index)
                self._entry(key[0]).setdefault("blocks", {})[(which, key[2])] = (full, packed)
                self._dirty.add(key[0])
        for row in rows:
            _append(report, [b for b in row if b is not None], run.keep_passes, index)

    def _judge(
        self,
        run: Run,
        parts: tuple[Plan, ...],
        objs: Sequence[K8sObject],
        todo: list[tuple[int, int, int, bytes | None]],
        index: dict[str, int],
        workers: int,
    ) -> list[tuple[Report, dict[str, Any] | None]]:
        """The blocks of ``todo`` (each with its packed form when it was made in a worker), judged in this
        process or, when there are many and ``workers`` > 1, shared out among forked workers as
        :func:`kubefort.engine.parallel.run_sharded` does (the same per-object results either way)."""
        report = run.report
        contexts: tuple[dict[int, Any], ...] = tuple({} for _ in parts)

        def judge(t: tuple[int, int, int, bytes | None]) -> Report:
            which = t[2]
            sub = Run(
                parts[which],
                run.inventory,
                Report(rules=report.rules, fail_on=report.fail_on, min_severity=report.min_severity, pss=report.pss),
                run.suppressor,
                run.min_severity,
                True,  # passes are kept, whatever this run's format: the next one may list them
            )
            sub.contexts = contexts[which]
            sub.objects([objs[t[0]]])
            return sub.report

        if workers <= 1 or len(todo) < PARALLEL_MIN_OBJECTS or not hasattr(os, "fork"):
            return [(judge(t), None) for t in todo]
        from ..forkpool import MAX_ITEMS, missing, share_out

        # the caches rules build over the whole inventory are built before the fork: one block of each
        # part and kind is judged here first
        first: dict[tuple[int, str], int] = {}
        for n, t in enumerate(todo):
            first.setdefault((t[2], objs[t[0]].kind), n)
        done_here = {n: judge(todo[n]) for n in first.values()}
        rest = [n for n in range(len(todo)) if n not in done_here]
        size = max(CHUNK, -(-len(rest) // MAX_ITEMS))
        chunks = [rest[lo : lo + size] for lo in range(0, len(rest), size)]

        def work(take: Iterator[int]) -> list[dict[str, Any]]:
            out = []
            for c in take:
                for n in chunks[c]:
                    b = judge(todo[n])
                    out.append(_pack(b, [(len(b.findings), len(b.results), len(b.passes))], index))
            return out

        def dumps(out: list[dict[str, Any]]) -> bytes:
            return pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)

        own, own_done, remote = share_out(len(chunks), work, workers, dumps=dumps)
        packed: dict[int, dict[str, Any]] = {}

        def assign(done: list[int], out: list[dict[str, Any]]) -> None:
            ns = [n for c in done for n in chunks[c]]
            if len(ns) != len(out):
                raise ValueError("results do not match their objects")
            packed.update(zip(ns, out))

        assign(own_done, own)
        for done, data in remote:
            try:
                assign(done, pickle.loads(data))
            except Exception:
                log.debug("unreadable worker results", exc_info=True)
        taken = [c for c in range(len(chunks)) if all(n in packed for n in chunks[c])]
        redo = missing(len(chunks), taken)
        if redo:
            assign(redo, work(iter(redo)))
        metas = report.rules
        out: list[tuple[Report, dict[str, Any] | None]] = []
        for n, t in enumerate(todo):
            if n in done_here:
                out.append((done_here[n], None))
            else:
                p = packed[n]
                out.append((_unpack(p, [0], [objs[t[0]]], [(0, 1)], metas)[0], p))
        return out

    def _object_keys(self, objects: Sequence[K8sObject]) -> dict[int, tuple[str, bytes, int]]:
        """Per object of a cached file (by ``id``): (its file, the digest of what makes it the same
        object, its place among the file's objects)."""
        out: dict[int, tuple[str, bytes, int]] = {}
        seen: Counter[str] = Counter()
        for obj in objects:
            file = obj.source.file
            digest = self._digests.get(file)
            if digest is None or obj.source.template is not None:
                continue
            n = seen[file]
            seen[file] += 1
            what = f"{file}\0{digest}\0{n}\0{obj.ref!r}\0{obj.invalid!r}"
            out[id(obj)] = (file, hashlib.sha256(what.encode("utf-8", "surrogateescape")).digest(), n)
        return out

    def _deps(
        self,
        part: Plan,
        kind: str,
        objects: Sequence[K8sObject],
        keys: Mapping[int, tuple[str, bytes, int]],
    ) -> bytes | None:
        """The digest of every object the cross-object steps of ``kind`` may read; None when one of them is
        not from a cached file (then the steps are judged every time)."""
        kinds: set[str] | None = {kind}
        for r in part.for_kind(kind):
            m = r.meta
            if m.needs is None or kinds is None or m.id in UNDECLARED_READERS:
                kinds = None
                break
            kinds.update(split_group_kind(n)[0] for n in m.needs)
            kinds.update(split_group_kind(k)[0] for k in m.own_kinds())
        group = None if kinds is None else frozenset(kinds)
        if group in self._groups:
            return self._groups[group]
        self._groups[group] = digest = self._group_digest(group, objects, keys)
        return digest

    @staticmethod
    def _group_digest(
        kinds: frozenset[str] | None, objects: Sequence[K8sObject], keys: Mapping[int, tuple[str, bytes, int]]
    ) -> bytes | None:
        h = hashlib.sha256()
        for o in objects:
            if kinds is not None and o.kind not in kinds:
                continue
            k = keys.get(id(o))
            if k is None:
                return None
            h.update(k[1])
        return h.digest()

    # -- storage

    def _entry(self, name: str) -> dict[str, Any]:
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        digest = self._digests.get(name)
        path = self._path(name)
        try:
            with open(path, "rb") as fh:
                entry = pickle.load(fh)
            if not (
                isinstance(entry, dict)
                and entry.get("format") == ENTRY_FORMAT
                and entry.get("name") == name
                and entry.get("digest") == digest
                and isinstance(entry.get("blocks"), dict)
            ):
                entry = None  # another content of that file, or not an entry of ours: replaced
        except FileNotFoundError:
            entry = None
        except Exception:  # damaged or unreadable: computed again, and replaced
            log.debug("unreadable cache entry %s", path, exc_info=True)
            entry = None
        if entry is None:
            entry = {"format": ENTRY_FORMAT, "name": name, "digest": digest, "parsed": None, "blocks": {}}
        self._entries[name] = entry
        return entry

    def _path(self, name: str) -> str:
        return os.path.join(self.run_dir, hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:40])

    def save(self) -> None:
        """Write the entries that changed (atomically), and delete the entries of old run keys."""
        log.debug(
            "scan cache %s: %s; judging seconds: %s",
            self.run_dir,
            ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items())),
            ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.seconds.items())),
        )
        if not self.writable:
            return
        for name in sorted(self._dirty):
            try:
                self._write(self._path(name), pickle.dumps(self._entries[name], protocol=pickle.HIGHEST_PROTOCOL))
            except OSError as e:
                self._cannot_write(e)
                return
            except Exception:  # something in a result pickle cannot write: that entry is not kept
                log.debug("cache entry for %s not written", name, exc_info=True)
        self._dirty.clear()
        with contextlib.suppress(OSError):
            os.utime(self.run_dir)
        self._prune()

    def _write(self, path: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _prune(self) -> None:
        try:
            runs = [e for e in os.scandir(self.directory) if e.name.startswith(_PREFIX) and e.is_dir()]
            runs.sort(key=lambda e: e.stat().st_mtime, reverse=True)
        except OSError:
            return
        for old in runs[KEEP_RUNS:]:
            if old.path != self.run_dir:
                shutil.rmtree(old.path, ignore_errors=True)
        # entries of files no scan has read for STALE_DAYS (deleted or moved inputs): the entries this scan
        # read are touched, so that only those age
        now = time.time()
        used = {self._path(name) for name in self._entries}
        try:
            for e in os.scandir(self.run_dir):
                if e.path in used:
                    os.utime(e.path, (now, now))
                elif e.stat().st_mtime < now - STALE_DAYS * 86400:
                    os.unlink(e.path)
        except OSError:
            return

    def _cannot_write(self, e: OSError) -> None:
        self.writable = False
        problem = f"cache {self.directory}: cannot write ({e.strerror or e}); the scan goes on without storing"
        if problem not in self.problems:
            self.problems.append(problem)
            log.warning("%s", problem)


def _append(report: Report, blocks: list[Report], keep_passes: bool, index: Mapping[str, int]) -> None:
    """Append an object's result blocks to ``report`` in the order one run over all its steps gives: the
    steps run in the order of the report's rules, so the two blocks are merged by rule index."""
    report.findings.extend(_merged([b.findings for b in blocks], lambda f: index[f.rule.id]))
    report.results.extend(_merged([b.results for b in blocks], lambda r: index[r.rule.id]))
    if keep_passes:
        report.passes.extend(_merged([b.passes for b in blocks], lambda p: index[p[0].id]))
    for b in blocks:
        report.counts.update(b.counts)
        report.hidden += b.hidden


def _merged(lists: list[list[Any]], key: Callable[[Any], int]) -> list[Any]:
    """The items of ``lists`` (each in rule order, no rule in two) in rule order."""
    full = [x for x in lists if x]
    if len(full) <= 1:
        return full[0] if full else []
    return sorted((x for xs in full for x in xs), key=key)
