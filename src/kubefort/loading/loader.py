"""Turn what users point kubefort at (files, directories, stdin, Helm charts, Kustomize dirs) into objects."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import LoadError
from ..model.kinds import is_cluster_scoped
from ..model.objects import DuplicateKey, K8sObject, Source
from ..model.source import DocumentText, normalize_newlines
from .compact import Compactor
from .dockerfile import is_dockerfile_name, load_dockerfile
from .yamlparse import Duplicate, Limits, ParsedDoc, parse_json, parse_yaml_stream

log = logging.getLogger(__name__)

EXTENSIONS = (".yaml", ".yml", ".json")
_HELM_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.M)


@dataclass
class LoadResult:
    objects: list[K8sObject] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped non-Kubernetes documents and the like
    files: int = 0
    documents: int = 0  # parsed documents, Kubernetes objects or not
    names: list[str] = field(default_factory=list)  # the files read (for messages about the input)

    def extend(self, other: LoadResult) -> None:
        self.objects.extend(other.objects)
        self.errors.extend(other.errors)
        self.notes.extend(other.notes)
        self.files += other.files
        self.documents += other.documents
        self.names.extend(other.names)


def helm_chart_error(chart: str) -> LoadError:
    return LoadError(chart, f"this is a Helm chart (Chart.yaml): its templates are not manifests; use --helm {chart}")


def iter_files(paths: Iterable[str], errors: list[LoadError], *, charts: Iterable[str] = ()) -> Iterator[str]:
    """Files below the given paths: files as given, directories recursively (.yaml/.yml/.json), '-' is stdin.

    A path that does not exist adds an error to ``errors`` and the others are still read. A directory
    holding ``Chart.yaml`` is a Helm chart: its templates are Go templates, not manifests, so it is
    not read; an error says to render it with ``--helm`` (unless it is one of ``charts``, rendered
    anyway).
    """
    rendered = {os.path.realpath(c) for c in charts}
    for p in paths:
        if p == "-" or os.path.isfile(p):
            yield p
        elif os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                if "Chart.yaml" in files:
                    dirs[:] = []
                    if os.path.realpath(root) not in rendered:
                        errors.append(helm_chart_error(root))
                    continue
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules",))
                for f in sorted(files):
                    if (f.endswith(EXTENSIONS) and not f.startswith(".kubefort")) or is_dockerfile_name(f):
                        yield os.path.join(root, f)
        else:
            errors.append(LoadError(p, "no such file or directory"))


def no_objects_error(loaded: LoadResult, inputs: list[str]) -> LoadError:
    """The one-line error of an input without any Kubernetes object (an empty or mistyped directory,
    a compose file, a values.yaml): it names what was read, so a CI log shows what went wrong."""
    where = ", ".join(inputs) or "the input"
    if not loaded.files:
        return LoadError(where, "nothing to scan: no .yaml, .yml or .json file; --allow-empty accepts this")
    root = input_root(inputs)
    shown = [os.path.relpath(n, root) if root and not n.startswith("<") else n for n in loaded.names[:3]]
    more = f" and {len(loaded.names) - 3} more" if len(loaded.names) > 3 else ""
    files = f"{loaded.files} file{'s' if loaded.files != 1 else ''} ({', '.join(shown)}{more})"
    docs = loaded.documents
    what = (
        f"{docs} document{'s' if docs != 1 else ''}, none with apiVersion and kind"
        if docs
        else "no YAML or JSON document"
    )
    return LoadError(where, f"no Kubernetes object in {files}: {what}; --allow-empty accepts this")


def input_root(paths: Iterable[str]) -> str | None:
    """The directory the inputs are under, in the form they were given (relative inputs give a
    relative root): a directory itself, a file's directory, the common parent of several. None for
    stdin alone."""
    given = [os.path.normpath(p) for p in paths if p != "-"]
    if not given:
        return None
    dirs = [p if os.path.isdir(p) else os.path.dirname(p) or "." for p in given]
    if len({os.path.isabs(d) for d in dirs}) > 1:
        dirs = [os.path.abspath(d) for d in dirs]
    try:
        return os.path.commonpath(dirs) or "."
    except ValueError:  # different drives
        return None


def repository_root(root: str) -> str:
    """The absolute directory that paths in SARIF are relative to: the repository holding ``root``
    (the nearest directory with ``.git`` above it), else the working directory when ``root`` is
    inside it, else ``root`` itself."""
    start = os.path.abspath(root)
    d = start
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    cwd = os.getcwd()
    return cwd if start == cwd or start.startswith(cwd.rstrip(os.sep) + os.sep) else start


def read_text(path: str, limits: Limits) -> str:
    if path == "-":
        data = sys.stdin.buffer.read(limits.max_file_bytes + 1)
    else:
        size = os.path.getsize(path)
        if size > limits.max_file_bytes:
            raise LoadError(path, f"file is {size} bytes, larger than the {limits.max_file_bytes}-byte limit; skipped")
        with open(path, "rb") as fh:  # read(n) allocates n bytes up front: ask for the size, not the limit
            data = fh.read(size + 1)
    if len(data) > limits.max_file_bytes:
        raise LoadError(path, f"input larger than the {limits.max_file_bytes}-byte limit; skipped")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(path, f"not UTF-8 text (byte {e.start})") from None


def parse_text(
    text: str, file: str, limits: Limits = Limits(), *, helm: bool = False
) -> tuple[list[ParsedDoc], list[LoadError]]:
    """The documents of one file or stream. Line breaks are normalised to LF first, so that the
    document splitter, the parsers' error lines and the line locator count lines alike (a CR LF
    file used to put every finding on its document's first line)."""
    text = normalize_newlines(text)
    stripped = text.lstrip()
    if file.endswith(".json") or (file == "-" and stripped.startswith(("{", "["))):
        docs, errors = parse_json(text, file)
        if errors and not file.endswith(".json"):
            return parse_yaml_stream(text, file, limits)  # JSON-looking YAML on stdin
        return docs, errors
    return parse_yaml_stream(text, file, limits)


#: inputs smaller than this are parsed in one process (forking would cost more than it saves)
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


def load_paths(
    paths: Iterable[str],
    *,
    limits: Limits = Limits(),
    default_namespace: str = "default",
    workers: int = 1,
    charts: Iterable[str] = (),
    cache: ParseCache | None = None,
) -> LoadResult:
    """Load every object from files, directories and stdin. Errors are collected, never raised.

    With ``workers`` > 1 and a large input, files are read and parsed in forked worker processes
    (see :mod:`kubefort.forkpool`); the result is the same as in one process. ``charts`` are Helm
    charts the caller renders itself: a directory walk skips them without an error. With ``cache``
    (the scan cache), a file whose content was parsed before is not parsed again (not for stdin).
    """
    result = LoadResult()
    files = list(iter_files(paths, result.errors, charts=charts))
    result.files = len(files)
    # Dockerfiles become Dockerfile objects (kubefort.loading.dockerfile); the rest is YAML/JSON
    dockerfiles = [f for f in files if f != "-" and is_dockerfile_name(f)]
    if dockerfiles:
        files = [f for f in files if f == "-" or not is_dockerfile_name(f)]
    result.names = ["<stdin>" if f == "-" else f for f in files]
    if cache is not None and "-" not in files:
        per_file = _load_cached(files, limits, workers, cache)
        for path in dockerfiles:
            with contextlib.suppress(OSError), open(path, "rb") as fh:
                cache.digest(path, hashlib.sha256(fh.read()).hexdigest())
    elif (
        workers > 1
        and len(files) > 1
        and "-" not in files
        and hasattr(os, "fork")
        and _size(files) >= PARALLEL_MIN_BYTES
    ):
        per_file = _parse_in_workers(files, limits, workers)
    else:
        per_file = [_read_and_parse(path, limits) for path in files]
    parsed: list[tuple[str, list[ParsedDoc]]] = []
    for name, docs, errors in per_file:
        result.errors.extend(errors)
        if docs is not None:
            parsed.append((name, docs))
    build_objects(parsed, result, default_namespace=default_namespace)
    for path in dockerfiles:
        try:
            result.objects.append(load_dockerfile(path))
        except LoadError as e:
            result.errors.append(e)
    return result


FileResult = tuple[str, "list[ParsedDoc] | None", list[LoadError]]


class ParseCache(Protocol):
    """Where parses are kept between scans (:class:`kubefort.engine.cache.ScanCache`)."""

    def digest(self, name: str, digest: str) -> None: ...
    def parsed(self, name: str) -> FileResult | None: ...
    def keep(self, name: str, result: FileResult) -> None: ...


def _load_cached(files: list[str], limits: Limits, workers: int, cache: ParseCache) -> list[FileResult]:
    """Read every file, give each content digest to ``cache``, and parse only the files it has no parse
    of (in workers, as :func:`load_paths` does, when they are large)."""
    out: list[FileResult | None] = []
    misses: list[tuple[int, str, str]] = []
    for path in files:
        try:
            text = read_text(path, limits)
        except LoadError as e:
            out.append((path, None, [e]))
            continue
        except OSError as e:
            out.append((path, None, [LoadError(path, e.strerror or str(e))]))
            continue
        cache.digest(path, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
        hit = cache.parsed(path)
        if hit is None:
            misses.append((len(out), path, text))
        out.append(hit)
    if misses:
        texts = [t for _, _, t in misses]
        if workers > 1 and len(misses) > 1 and hasattr(os, "fork") and sum(map(len, texts)) >= PARALLEL_MIN_BYTES:
            parsed = _parse_in_workers([p for _, p, _ in misses], limits, workers, texts)
        else:
            parsed = [(p, *parse_text(t, p, limits)) for _, p, t in misses]
        for (i, _, _), r in zip(misses, parsed):
            out[i] = r
            cache.keep(r[0], r)
    return [r for r in out if r is not None]


def _read_and_parse(path: str, limits: Limits) -> FileResult:
    name = "<stdin>" if path == "-" else path
    try:
        text = read_text(path, limits)
    except LoadError as e:
        return name, None, [e]
    except OSError as e:
        return name, None, [LoadError(path, e.strerror or str(e))]
    docs, errors = parse_text(text, name, limits)
    return name, docs, errors


def _size(files: list[str]) -> int:
    total = 0
    for f in files:
        with contextlib.suppress(OSError):
            total += os.path.getsize(f)
    return total


def _parse_in_workers(
    files: list[str], limits: Limits, workers: int, texts: list[str] | None = None
) -> list[FileResult]:
    """Read and parse ``files`` (or, given, their ``texts``) in forked workers; parsed documents come back
    through ``marshal`` (the parsers give plain dicts, lists and scalars, which it encodes several times
    faster than pickle)."""
    import marshal

    from ..forkpool import MAX_ITEMS, missing, share_out

    if len(files) > MAX_ITEMS:  # a work item per group of files
        step = -(-len(files) // MAX_ITEMS)
        groups = [list(range(i, min(i + step, len(files)))) for i in range(0, len(files), step)]
    else:
        groups = [[i] for i in range(len(files))]

    def work(take: Iterator[int]) -> list[FileResult]:
        if texts is not None:
            return [(files[i], *parse_text(texts[i], files[i], limits)) for g in take for i in groups[g]]
        return [_read_and_parse(files[i], limits) for g in take for i in groups[g]]

    def dumps(out: list[FileResult]) -> bytes:
        return marshal.dumps([plain_file_result(r) for r in out])

    own, own_done, remote = share_out(len(groups), work, workers, dumps=dumps)
    by_group: dict[int, list[FileResult]] = {}
    _assign(by_group, own_done, groups, own)
    for done, data in remote:
        try:
            out = [file_result(plain) for plain in marshal.loads(data)]
            _assign(by_group, done, groups, out)
        except Exception:
            log.debug("unreadable worker results", exc_info=True)
    redo = missing(len(groups), list(by_group))
    if redo:
        _assign(by_group, redo, groups, work(iter(redo)))
    return [r for g in range(len(groups)) for r in by_group[g]]


def plain_file_result(result: FileResult) -> tuple[Any, ...]:
    """A file's parse as plain data (tuples, lists, dicts, scalars): what worker processes send back and the
    scan cache keeps (:mod:`kubefort.engine.cache`); :func:`file_result` reads it back."""
    name, docs, errors = result
    return (
        name,
        None
        if docs is None
        else [(d.data, d.text.text, d.text.start_line, d.text.is_json, d.duplicates) for d in docs],
        [(e.file, str(e), e.line) for e in errors],
    )


def file_result(plain: Any) -> FileResult:
    """The inverse of :func:`plain_file_result`."""
    name, docs, errors = plain
    return (
        name,
        None if docs is None else [ParsedDoc(d, DocumentText(t, line, js), dups) for d, t, line, js, dups in docs],
        [LoadError(f, m, line) for f, m, line in errors],
    )


def _assign(
    by_group: dict[int, list[FileResult]], done: list[int], groups: list[list[int]], out: list[FileResult]
) -> None:
    if sum(len(groups[g]) for g in done) != len(out):
        raise ValueError("results do not match their files")
    k = 0
    for g in done:
        n = len(groups[g])
        by_group[g] = out[k : k + n]
        k += n


def load_text(
    text: str,
    file: str,
    *,
    rendered_by: str | None = None,
    source_root: str = "",
    default_namespace: str = "default",
    limits: Limits = Limits(),
) -> LoadResult:
    """Load objects from text (rendered Helm/Kustomize output, a webhook request, a test)."""
    result = LoadResult(files=1, names=[file])
    docs, errors = parse_text(text, file, limits)
    result.errors.extend(errors)
    build_objects(
        [(file, docs)], result, default_namespace=default_namespace, rendered_by=rendered_by, source_root=source_root
    )
    return result


def build_objects(
    parsed: list[tuple[str, list[ParsedDoc]]],
    result: LoadResult,
    *,
    default_namespace: str = "default",
    rendered_by: str | None = None,
    source_root: str = "",
) -> None:
    # CustomResourceDefinitions in the input tell the scope of their kinds.
    crd_scope: dict[str, bool] = {}
    for _, docs in parsed:
        for d in docs:
            data = d.data
            if isinstance(data, Mapping) and data.get("kind") == "CustomResourceDefinition":
                spec = data.get("spec")
                spec = spec if isinstance(spec, Mapping) else {}
                names = spec.get("names")
                names = names if isinstance(names, Mapping) else {}
                if isinstance(names.get("kind"), str):
                    crd_scope[names["kind"]] = spec.get("scope") == "Cluster"
    # what repeats across the objects (strings, small mappings) is kept once: half the memory (.compact)
    compact = Compactor()
    for file, docs in parsed:
        result.documents += len(docs)
        for d in docs:
            if type(d.data) is dict:
                compact(d.data)
            template = None
            if rendered_by == "helm":
                m = _HELM_SOURCE.search(d.text.text[:2000])
                template = m.group(1) if m else None
            # Helm names templates "<chart name>/templates/x.yaml": the chart directory replaces the name
            src_file = os.path.join(source_root, template.split("/", 1)[-1]) if template else file
            _add_document(d.data, d.text, src_file, template, (), result, default_namespace, crd_scope, d.duplicates)


def _add_document(
    data: Any,
    text: Any,
    file: str,
    template: str | None,
    prefix: tuple[str | int, ...],
    result: LoadResult,
    default_namespace: str,
    crd_scope: Mapping[str, bool],
    duplicates: tuple[Duplicate, ...] = (),
    depth: int = 0,
) -> None:
    where = f"{file}:{text.line_of(prefix)}" if prefix else f"{file}:{text.start_line}"
    if not isinstance(data, Mapping):
        result.notes.append(f"{where}: skipped a document that is not a mapping (not a Kubernetes object)")
        return
    kind = data.get("kind")
    api_version = data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str) or not kind or not api_version:
        result.notes.append(f"{where}: skipped a document without apiVersion and kind (not a Kubernetes object)")
        return
    if kind.endswith("List") and isinstance(data.get("items"), list) and depth < 2:
        # Items of a typed list (PodList) read from the API server carry no apiVersion/kind: they are the list's.
        item_kind = kind[: -len("List")] if kind != "List" else None
        n = len(prefix) + 2
        for path, lines in duplicates:  # repeated keys of the list itself, outside any item
            if len(path) < n or path[: n - 1] != prefix + ("items",):
                where_dup = f"{file}:{lines[-1]}" if lines else where
                result.notes.append(
                    f"{where_dup}: key {'.'.join(map(str, path))} repeated in a List, outside its items"
                )
        for i, item in enumerate(data["items"]):
            if item_kind and isinstance(item, Mapping) and "kind" not in item:
                item = {"apiVersion": api_version, "kind": item_kind, **item}
            item_prefix = prefix + ("items", i)
            _add_document(
                item,
                text,
                file,
                template,
                item_prefix,
                result,
                default_namespace,
                crd_scope,
                tuple(d for d in duplicates if d[0][:n] == item_prefix and len(d[0]) > n),
                depth + 1,
            )
        return
    scope = crd_scope.get(kind)
    cluster_scoped = scope if scope is not None else is_cluster_scoped(api_version, kind)
    n = len(prefix)
    dups = tuple(DuplicateKey(path[n:], lines) for path, lines in duplicates if path[:n] == prefix and len(path) > n)
    source = Source(file=file, doc=text, prefix=prefix, template=template, duplicates=dups)
    result.objects.append(K8sObject.from_raw(data, source, default_namespace, cluster_scoped))
