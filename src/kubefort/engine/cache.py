"""The scan cache (``kubefort scan --cache DIR``): re-scanning a tree where a few files changed gives the
report of a full scan without parsing or judging again what did not change.

What is kept, per input file (one entry file per input file and run key, see docs/performance.md):

- the file's parse (its documents as plain data with what locating a field needs, its parse errors),
  valid while the file's content (SHA-256 of its text) is the same;
- per object of the file, its results in blocks, in the plain-tuple form worker processes send back
  (:func:`kubefort.engine.parallel._pack`), one per part of its steps: the steps that read nothing but
  the object (``RuleMeta.reads_others`` false), valid while the object is the same (its file's content,
  its place in the file, its identity, the fields schema validation found invalid, the input's CRDs);
  one part per set of kinds the other steps read (:func:`kinds_read_on`), valid while, in addition,
  every object of those kinds is the same; for the rules that read no image (``RuleMeta.reads_images``
  false) the same with images left out of every object, kept with what the rule functions returned so
  that an object whose image changed is judged again from them (:class:`_Tape`). And one whole block
  (every part but the clock's) valid while the whole input is the same.

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
from ..model.kinds import POD_SPEC_PATHS, split_group_kind
from ..model.objects import InvalidField, K8sObject
from .findings import Report
from .parallel import CHUNK, _pack, _unpack
from .rule import NotEvaluated, NotInScope, Rule, RuleMeta
from .runner import PARALLEL_MIN_OBJECTS, Plan, Run

log = logging.getLogger(__name__)

#: the form of entries; bumped when it changes (entries of another form are ignored)
ENTRY_FORMAT = 2
#: run keys (configurations) whose entries are kept: the most recently used ones
KEEP_RUNS = 4
_PREFIX = "run-"

#: entries of input files no scan has read for this many days are deleted
STALE_DAYS = 30
#: parameters that, left empty, make a rule judge at the current date or time (``now``, ``today``)
CLOCK_PARAMS = ("now", "today")
#: rules that read the clock without such a parameter (certificate expiry on a node snapshot)
CLOCK_RULES = frozenset({"KF-NODE-023"})


def kinds_read_on(meta: RuleMeta, kind: str) -> frozenset[str] | None:
    """The kinds whose objects the results of ``meta`` on an object of ``kind`` may depend on, besides
    that object (and the CRDs, in every object's key): ``kind``, the kinds it judges (a rule may read
    other objects of its own kinds without naming them) and those of its ``needs``, without their API
    groups; None when it reads other objects without declaring which (the whole input)."""
    if not meta.reads_others(kind):
        return frozenset()
    if meta.needs is None:
        return None
    return frozenset(
        {kind, *(split_group_kind(n)[0] for n in meta.needs), *(split_group_kind(k)[0] for k in meta.own_kinds())}
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
        self._previous: dict[str, dict[Any, Any]] = {}  # file -> the blocks of its former content
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

        # the parts of an object's steps: judging it alone, one per set of kinds the other steps read (so
        # that a changed Deployment leaves valid what reads only RBAC objects), and reading the clock
        # that a changed Deployment leaves valid what reads only RBAC objects; apart, for each, the steps of
        # rules that read no image: "blind", kept while nothing but images changed), and reading the clock
        kinds = sorted({o.kind for o in objs})

        named: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}

        def part_of(m: RuleMeta, kind: str) -> tuple[str, tuple[str, ...] | None]:
            hit = named.get((m.id, kind))
            if hit is None:
                read = kinds_read_on(m, kind)
                rs = None if read is None else tuple(sorted(read))
                hit = named[(m.id, kind)] = ("cross" if m.reads_images or rs is None else "blind", rs)
            return hit

        reads: dict[tuple[str, tuple[str, ...] | None], None] = {}  # (label, read set), in a fixed order
        for kind in kinds:
            for r in plan.for_kind(kind):
                m = r.meta
                if m.reads_others(kind) and not clock(m):
                    reads.setdefault(part_of(m, kind))

        def reading(this: tuple[str, tuple[str, ...] | None]) -> Callable[[RuleMeta, str], bool]:
            def keep(m: RuleMeta, k: str) -> bool:
                return m.reads_others(k) and not clock(m) and part_of(m, k) == this

            return keep

        parts: list[Plan] = [plan.part(lambda m, k: not m.reads_others(k) and not clock(m))]
        labels: list[tuple[str, Any]] = [("local", None)]  # (the part's label, what names its blocks)
        for this in reads:
            parts.append(plan.part(reading(this)))
            labels.append(this)
        parts.append(plan.part(lambda m, k: clock(m)))
        labels.append(("clock", None))
        report = run.report
        metas = report.rules
        index = {m.id: i for i, m in enumerate(metas)}
        inventory = run.inventory.objects
        keys = self._object_keys(inventory)
        blind_keys: dict[int, tuple[str, bytes, int]] = {}  # made on first use (nothing changed: never)
        deps: dict[tuple[str, tuple[str, ...] | None], bytes | None] = {}
        # per object, all its parts but the clock's in one block, valid while the whole input is the same
        # (one block to read back instead of several when nothing changed)
        whole = self._with_deps((".", b"", 0), ("cross", None), inventory, keys, deps)
        wholes: dict[int, bytes] = {}  # object -> the key to keep its whole block under, when it can be
        tapes: dict[int, dict[str, list[Any]]] = {}  # todo item -> the rule outputs kept for it (blind parts)
        stats = self.stats
        rows: list[list[Report | None]] = []  # per object, the blocks of its parts (None: to judge)
        # (object, block, part, its name, key to keep it under, key to replay it under)
        todo: list[tuple[int, int, int, Any, bytes | None, bytes | None]] = []
        per_kind: dict[str, list[tuple[int, Plan]]] = {}
        seen = [False, False]  # whether a part was judged, given back

        def applicable(obj: K8sObject, clock_only: bool = False) -> list[int]:
            """The parts with a step about ``obj``, in order (the others give it nothing)."""
            steps = per_kind.get(obj.kind)
            if steps is None:
                steps = per_kind[obj.kind] = [(w, p) for w, p in enumerate(parts) if p.for_kind(obj.kind)]
            return [w for w, p in steps if (not clock_only or labels[w][0] == "clock") and _applicable(p, obj)]

        for i, obj in enumerate(objs):
            key = keys.get(id(obj))
            row: list[Report | None] = []
            all_in_one = None
            if key is not None and whole is not None:
                kept, old = self._kept(key[0], ("whole", key[2]))
                if kept is not None and kept[0] == key[1] + whole:
                    with contextlib.suppress(Exception):  # a damaged block: its parts are looked at
                        all_in_one = _unpack(kept[1], [0], [obj], [(0, 1)], metas, run.shared)[0]
                        if old:
                            self._entry(key[0])["blocks"][("whole", key[2])] = kept
                            self._dirty.add(key[0])
                stats[f"whole {'hit' if all_in_one is not None else 'miss'}"] += 1
                if all_in_one is not None:
                    row.append(all_in_one)
                else:
                    wholes[i] = key[1] + whole
            for which in applicable(obj, all_in_one is not None):
                label, rs = labels[which]
                name = (label, rs, key[2]) if key is not None else None
                # what reads the clock is judged every time
                exact = key[1] if key is not None and label != "clock" else None
                blind = None
                if label == "cross" and key is not None:
                    exact = self._with_deps(key, (label, rs), inventory, keys, deps)
                elif label == "blind" and key is not None:
                    # kept under what the rules see (no image), with what this object was when judged
                    if not blind_keys:
                        blind_keys = self._blind_keys(inventory, keys)
                    own = blind_keys.get(id(obj))
                    exact = blind = (
                        None if own is None else self._with_deps(own, (label, rs), inventory, blind_keys, deps)
                    )
                block = None
                tape = None
                if key is not None and exact is not None:
                    kept, old = self._kept(key[0], name)
                    if kept is not None and kept[0] == exact:
                        if blind is None or kept[2] == key[1]:  # the same object, reading the same
                            with contextlib.suppress(Exception):  # a damaged block: judged again
                                block = _unpack(kept[1], [0], [obj], [(0, 1)], metas, run.shared)[0]
                        elif isinstance(kept[3], dict):  # only its images changed: what its rules said stands
                            tape = kept[3]
                    if block is not None and old:  # from the entry of the file's former content
                        self._entry(key[0])["blocks"][name] = kept
                        self._dirty.add(key[0])
                hit = block is not None or tape is not None
                stats[f"{label} {'hit' if hit else 'miss'}"] += 1
                if label != "clock":
                    seen[hit] = True
                if block is None:
                    if tape is not None:
                        tapes[len(todo)] = tape
                    todo.append((i, len(row), which, name, exact, blind))
                row.append(block)
            rows.append(row)
        t0 = time.perf_counter()
        blinds = [n for n, t in enumerate(todo) if labels[t[2]][0] == "blind"]
        others = [n for n, t in enumerate(todo) if labels[t[2]][0] != "blind"]
        # worker processes when many objects changed (a cold cache); after a few changes what is judged again
        # is cheap steps of unchanged objects, whose shared indexes are built before any fork anyway: forking
        # and copying pages would cost more CPU than it saves (measured on syn-10k: one changed file, 0.6 s)
        changed = sum(1 for t in todo if labels[t[2]][0] == "local")
        forks = workers if changed >= PARALLEL_MIN_OBJECTS else 1
        judged = dict(zip(others, self._judge(run, parts, objs, [todo[n] for n in others], index, forks)))
        self.seconds["judging"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        replayed = self._replay(run, parts, objs, [todo[n] for n in blinds], [tapes.get(n) for n in blinds])
        self.seconds["blind"] += time.perf_counter() - t0
        for n, (block, record) in zip(blinds, replayed):
            judged[n] = (block, None)
            i, _, _, name, exact, bkey = todo[n]
            key = keys.get(id(objs[i]))
            if key is not None and bkey is not None and record is not None:
                kept = _pack(block, [(len(block.findings), len(block.results), len(block.passes))], index)
                self._entry(key[0]).setdefault("blocks", {})[name] = (bkey, kept, key[1], record)
                self._dirty.add(key[0])
        for n, (block, packed) in judged.items():
            i, j, _, name, exact, bkey = todo[n]
            rows[i][j] = block
            key = keys.get(id(objs[i]))
            if key is not None and exact is not None and bkey is None:
                if packed is None:
                    packed = _pack(block, [(len(block.findings), len(block.results), len(block.passes))], index)
                self._entry(key[0]).setdefault("blocks", {})[name] = (exact, packed)
                self._dirty.add(key[0])
        # whole blocks of the objects none of whose parts was given back by replaying (when only images
        # changed, the next scan's parts are read back instead: packing them all again would cost more)
        # kept when they may be of use: after a cold scan (everything judged), or one that found nothing
        # changed; after a change the next change is as likely as no change (storing would cost as much)
        for i, full in wholes.items() if not (seen[False] and seen[True]) else ():
            obj = objs[i]
            blocks = [b for b, w in zip(rows[i], applicable(obj)) if b is not None and labels[w][0] != "clock"]
            merged = Report(rules=metas)
            _append(merged, blocks, True, index)
            key = keys[id(obj)]
            packed = _pack(merged, [(len(merged.findings), len(merged.results), len(merged.passes))], index)
            self._entry(key[0])["blocks"][("whole", key[2])] = (full, packed)
            self._dirty.add(key[0])
        for row in rows:
            _append(report, [b for b in row if b is not None], run.keep_passes, index)

    def _judge(
        self,
        run: Run,
        parts: Sequence[Plan],
        objs: Sequence[K8sObject],
        todo: list[tuple[int, int, int, Any, bytes | None, bytes | None]],
        index: dict[str, int],
        workers: int,
    ) -> list[tuple[Report, dict[str, Any] | None]]:
        """The blocks of ``todo`` (each with its packed form when it was made in a worker), judged in this
        process or, when there are many and ``workers`` > 1, shared out among forked workers as
        :func:`kubefort.engine.parallel.run_sharded` does (the same per-object results either way)."""
        report = run.report
        contexts: tuple[dict[int, Any], ...] = tuple({} for _ in parts)

        def judge(t: tuple[int, int, int, Any, bytes | None, bytes | None]) -> Report:
            which = t[2]
            sub = _sub_run(parts[which], run, report, contexts[which])
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
                out.append((_unpack(p, [0], [objs[t[0]]], [(0, 1)], metas, run.shared)[0], p))
        return out

    def _with_deps(
        self,
        key: tuple[str, bytes, int],
        group: tuple[str, tuple[str, ...] | None],
        objects: Sequence[K8sObject],
        keys: Mapping[int, tuple[str, bytes, int]],
        deps: dict[tuple[str, tuple[str, ...] | None], bytes | None],
    ) -> bytes | None:
        """``key`` joined with the digest of the objects of the kinds of ``group`` (its keys: ``keys``);
        None when one of them is not from a cached file."""
        if group not in deps:
            rs = group[1]
            deps[group] = self._group_digest(None if rs is None else frozenset(rs), objects, keys)
        dep = deps[group]
        return None if dep is None else key[1] + dep

    def _kept(self, file: str, name: Any) -> tuple[Any, bool]:
        """The block kept under ``name`` for ``file``, and whether it comes from the entry of the file's
        former content (its keys hold the former content: only a block that reads no image can match)."""
        kept = self._entry(file)["blocks"].get(name)
        if kept is not None:
            return kept, False
        return self._previous.get(file, {}).get(name), True

    def _replay(
        self,
        run: Run,
        parts: Sequence[Plan],
        objs: Sequence[K8sObject],
        todo: list[tuple[int, int, int, Any, bytes | None, bytes | None]],
        tapes: list[dict[str, list[Any]] | None],
    ) -> list[tuple[Report, dict[str, list[Any]] | None]]:
        """The blocks of the steps of rules that read no image (``RuleMeta.reads_images`` false), judged in
        this process by the one runner: with the rules' own functions when nothing was kept (what they
        return is recorded, to be kept), else with what those functions returned when the object and the
        objects they read were the same but for images (:meth:`_blind_keys`): the runner does the rest
        (applies, suppressions, locations, as for any object) on the object as it is now."""
        report = run.report
        tape = _Tape()
        taped: dict[int, Plan] = {}
        contexts: dict[int, dict[int, Any]] = {}
        out: list[tuple[Report, dict[str, list[Any]] | None]] = []
        for t, kept in zip(todo, tapes):
            which = t[2]
            plan = taped.get(which)
            if plan is None:
                plan = taped[which] = tape.plan(parts[which])
                contexts[which] = {}
            sub = _sub_run(plan, run, report, contexts[which])
            tape.start(kept)
            sub.objects([objs[t[0]]])
            out.append((sub.report, tape.recorded() if kept is None else kept if tape.replayed() else None))
        return out

    def _blind_keys(
        self, objects: Sequence[K8sObject], keys: Mapping[int, tuple[str, bytes, int]]
    ) -> dict[int, tuple[str, bytes, int]]:
        """:meth:`_object_keys` with the object's content but its container images in place of its file's
        content: what rules that read no image see of it (its place in the file, its identity, the fields
        found invalid and the CRDs stay in)."""
        out: dict[int, tuple[str, bytes, int]] = {}
        crds = hashlib.sha256()
        for obj in objects:
            key = keys.get(id(obj))
            if key is None:
                continue
            file, _, n = key
            try:
                content = marshal.dumps(_without_images(obj.raw, obj.kind))
            except ValueError:  # a value marshal cannot write: the whole content stands
                content = key[1]
            what = f"{file}\0{n}\0{obj.ref!r}\0{obj.invalid!r}\0".encode("utf-8", "surrogateescape")
            k = hashlib.sha256(what + content).digest()
            out[id(obj)] = (file, k, n)
            if obj.kind == "CustomResourceDefinition":
                crds.update(k)
        common = crds.digest()
        return {i: (f, hashlib.sha256(k + common).digest(), n) for i, (f, k, n) in out.items()}

    def _object_keys(self, objects: Sequence[K8sObject]) -> dict[int, tuple[str, bytes, int]]:
        """Per object of a cached file (by ``id``): (its file, the digest of what makes it the same
        object, its place among the file's objects). What makes it the same: its file's content, its place
        in the file, its identity, the fields schema validation found invalid, and the input's
        CustomResourceDefinitions (they decide how a custom resource is validated, its scope, and what
        custom resources RBAC grants name: a changed CRD judges everything again, a rare edit)."""
        out: dict[int, tuple[str, bytes, int]] = {}
        seen: Counter[str] = Counter()
        crds = hashlib.sha256()
        for obj in objects:
            file = obj.source.file
            digest = self._digests.get(file)
            if digest is None or obj.source.template is not None:
                if obj.kind == "CustomResourceDefinition":
                    return {}  # a CRD the cache cannot tell apart: nothing is kept
                continue
            n = seen[file]
            seen[file] += 1
            what = f"{file}\0{digest}\0{n}\0{obj.ref!r}\0{obj.invalid!r}"
            key = hashlib.sha256(what.encode("utf-8", "surrogateescape")).digest()
            out[id(obj)] = (file, key, n)
            if obj.kind == "CustomResourceDefinition":
                crds.update(key)
        common = crds.digest()
        return {i: (f, hashlib.sha256(k + common).digest(), n) for i, (f, k, n) in out.items()}

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
                and isinstance(entry.get("blocks"), dict)
            ):
                entry = None  # not an entry of ours: replaced
            elif entry.get("digest") != digest:  # another content of that file: replaced, its blocks looked at
                self._previous[name] = entry["blocks"]
                entry = None
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


_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def _without_images(raw: Any, kind: str) -> Any:
    """``raw`` without the ``image`` of its pod spec's containers (a copy along the way; ``raw`` is not
    changed): what a rule that reads no image sees of a workload."""
    paths = POD_SPEC_PATHS.get(kind)
    if paths is None or not isinstance(raw, dict):
        return raw

    def strip(node: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        if not path:
            out = dict(node)
            for name in _CONTAINER_LISTS:
                cs = node.get(name)
                if isinstance(cs, list):
                    out[name] = [{k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c for c in cs]
            return out
        head = path[0]
        if head not in node:
            return node
        out = dict(node)
        out[head] = strip(node[head], path[1:])
        return out

    return strip(raw, paths[1])


class _Tape:
    """What the functions of rules return, one object at a time: recorded when they run, given back in
    the same order when the object is replayed (a function with nothing kept for a call runs: its
    result is right, and the tape is not kept)."""

    def __init__(self) -> None:
        self._kept: dict[str, list[Any]] | None = None
        self._record: dict[str, list[Any]] = {}
        self._at: Counter[str] = Counter()
        self._ok = True

    def start(self, kept: dict[str, list[Any]] | None) -> None:
        self._kept, self._record, self._at, self._ok = kept, {}, Counter(), True

    def replayed(self) -> bool:
        """Whether every call was given back from what was kept."""
        return self._ok

    def recorded(self) -> dict[str, list[Any]] | None:
        """What was recorded for the object, None when it cannot be kept (a rule crashed)."""
        return self._record if self._ok else None

    def plan(self, part: Plan) -> Plan:
        """``part`` with every rule's function taped."""
        assert part.keep is not None
        p = part.part(part.keep)
        p.rules = [Rule(r.meta, self._wrap(r)) for r in part.rules]
        return p

    def _wrap(self, r: Rule) -> Callable[[Any, Any], list[Any]]:
        fn, rid = r.fn, r.meta.id

        def taped(arg: Any, ctx: Any) -> list[Any]:
            if self._kept is not None:
                outs = self._kept.get(rid, [])
                i = self._at[rid]
                if i < len(outs):
                    self._at[rid] = i + 1
                    out = outs[i]
                    if isinstance(out, BaseException):
                        raise out
                    return list(out)
                self._ok = False
                return list(fn(arg, ctx))
            try:
                got = list(fn(arg, ctx))
            except (NotEvaluated, NotInScope, InvalidField) as e:
                self._record.setdefault(rid, []).append(type(e)(*e.args))
                raise
            except Exception:
                self._ok = False  # a crash: its result says where, not kept
                raise
            self._record.setdefault(rid, []).append(got)
            return got

        return taped


def _applicable(part: Plan, obj: K8sObject) -> bool:
    """Whether a step of ``part`` may be about ``obj``: one whose rule names the object's API group and
    whose ``applies`` says yes, decided as the runner decides it (and with its memo). A part none of whose
    steps is gives the object nothing; the control-plane rules' part of an nginx Deployment, say. An
    object with fields found invalid is decided by the runner alone (it decides while judging it)."""
    if obj.invalid is not None:
        return True
    memo = obj.memo
    for t in part.templates(obj.kind):
        applies, groups = t[4], t[5]
        if groups is not None and obj.group not in groups:
            continue
        if applies is None:
            return True
        ok = memo.get(applies)
        if ok is None:
            try:
                ok = bool(applies(obj))
            except InvalidField:
                ok = False
            memo[applies] = ok
        if ok:
            return True
    return False


def _sub_run(plan: Plan, run: Run, report: Report, contexts: dict[Any, Any]) -> Run:
    """A run of ``plan`` over objects of ``run``'s inventory into a report of its own, with the contexts
    kept for its part. Passes are kept, whatever this run's format: the next scan may list them."""
    sub = Run(
        plan,
        run.inventory,
        Report(rules=report.rules, fail_on=report.fail_on, min_severity=report.min_severity, pss=report.pss),
        run.suppressor,
        run.min_severity,
        True,
    )
    sub.contexts, sub.shared = contexts, run.shared  # equal messages, paths, locations: one object each
    return sub
