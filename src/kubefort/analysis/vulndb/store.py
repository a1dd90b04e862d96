"""The local advisory database: OSV records (https://ossf.github.io/osv-schema/) imported from the
per-ecosystem zip archives osv.dev publishes, or from directories of OSV JSON files, into one SQLite
file. Nothing is downloaded: ``kubefort vulndb import PATH`` reads what the user brought.

Tables: ``advisory`` (one row per record: id, modified, summary, aliases, severity entries,
``database_specific`` severity), ``affected`` (one row per affected package: ecosystem, name as the
ecosystem compares it, the ranges and explicit versions, the distribution's urgency) and ``alias``
(alias -> advisory, to borrow a severity from an aliased record). A record imported again replaces
the older one; a withdrawn record is removed."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from ..image.packages import pypi_name

SCHEMA_VERSION = "1"
MAX_RECORD_BYTES = 16 * 1024 * 1024  # one OSV JSON document

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisory (
  id TEXT PRIMARY KEY, modified TEXT NOT NULL, summary TEXT NOT NULL, aliases TEXT NOT NULL,
  severity TEXT NOT NULL, db_severity TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
  advisory TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL,
  ranges TEXT NOT NULL, versions TEXT NOT NULL, urgency TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_package ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_advisory ON affected (advisory);
CREATE TABLE IF NOT EXISTS alias (alias TEXT NOT NULL, advisory TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alias_alias ON alias (alias);
CREATE INDEX IF NOT EXISTS alias_advisory ON alias (advisory);
"""


def default_db_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kubefort", "vulndb.sqlite")


def package_name(ecosystem: str, name: str) -> str:
    """A package name as its ecosystem compares names (PyPI: PEP 503; the others as written)."""
    return pypi_name(name) if ecosystem == "PyPI" else name


@dataclass(slots=True)
class ImportStats:
    files: int = 0
    advisories: int = 0
    affected: int = 0
    withdrawn: int = 0
    skipped: int = 0  # not OSV (no id), unreadable, or older than what the database has


def _records(path: str) -> Iterator[tuple[str, bytes]]:
    """(where, JSON bytes) of every OSV document under ``path`` (a zip, a directory or a file)."""
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                full = os.path.join(root, f)
                if f.endswith(".json"):
                    if os.path.getsize(full) <= MAX_RECORD_BYTES:
                        with open(full, "rb") as fh:
                            yield full, fh.read()
                    else:
                        yield full, b""
                elif f.endswith(".zip"):
                    yield from _records(full)
        return
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".json") or info.is_dir():
                    continue
                where = f"{path}:{info.filename}"
                if info.file_size > MAX_RECORD_BYTES:
                    yield where, b""
                    continue
                with zf.open(info) as fh:
                    yield where, fh.read(MAX_RECORD_BYTES + 1)
        return
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            data = fh.read(MAX_RECORD_BYTES + 1)
        # a file may hold one record or a list of them
        yield path, data
        return
    raise UsageError(f"{path}: no such file or directory")


class VulnDB:
    """An open advisory database (a SQLite file)."""

    def __init__(self, path: str, *, create: bool = False) -> None:
        if not create and not os.path.isfile(path):
            raise UsageError(
                f"no vulnerability database at {path}: import advisories with 'kubefort vulndb import PATH'"
            )
        if create:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.con = sqlite3.connect(path)
        self.con.executescript(_SCHEMA)
        self.con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        self._cache: dict[tuple[str, str], list[tuple[Any, ...]]] = {}

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- import ---------------------------------------------------------------------------------------
    def import_paths(self, paths: list[str]) -> ImportStats:
        stats = ImportStats()
        known = dict(self.con.execute("SELECT id, modified FROM advisory").fetchall())
        adv_rows: list[tuple[str, ...]] = []
        aff_rows: list[tuple[str, ...]] = []
        alias_rows: list[tuple[str, str]] = []
        replaced: list[tuple[str]] = []
        with self.con:
            for path in paths:
                for _where, data in _records(path):
                    stats.files += 1
                    try:
                        doc = json.loads(data)
                    except (ValueError, UnicodeDecodeError):
                        stats.skipped += 1
                        continue
                    for rec in doc if isinstance(doc, list) else [doc]:
                        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                            stats.skipped += 1
                            continue
                        rid = rec["id"]
                        modified = str(rec.get("modified") or "")
                        if rid in known:
                            if modified < known[rid]:
                                stats.skipped += 1
                                continue
                            replaced.append((rid,))
                        if rec.get("withdrawn"):
                            stats.withdrawn += 1
                            known.pop(rid, None)
                            continue
                        known[rid] = modified
                        self._rows(rec, adv_rows, aff_rows, alias_rows)
                        stats.advisories += 1
            if replaced:
                for table, col in (("advisory", "id"), ("affected", "advisory"), ("alias", "advisory")):
                    self.con.executemany(f"DELETE FROM {table} WHERE {col} = ?", replaced)
            self.con.executemany("INSERT OR REPLACE INTO advisory VALUES (?, ?, ?, ?, ?, ?)", adv_rows)
            self.con.executemany("INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?)", aff_rows)
            self.con.executemany("INSERT INTO alias VALUES (?, ?)", alias_rows)
            self.con.execute("INSERT OR REPLACE INTO meta VALUES ('imported', datetime('now'))")
        stats.affected = len(aff_rows)
        self._cache.clear()
        return stats

    @staticmethod
    def _rows(
        rec: Mapping[str, Any],
        adv_rows: list[tuple[str, ...]],
        aff_rows: list[tuple[str, ...]],
        alias_rows: list[tuple[str, str]],
    ) -> None:
        rid = rec["id"]
        aliases = [a for a in (rec.get("aliases") or []) if isinstance(a, str)]
        aliases += [a for a in (rec.get("upstream") or []) if isinstance(a, str) and a not in aliases]
        severity = [s for s in (rec.get("severity") or []) if isinstance(s, dict)]
        dbs = rec.get("database_specific")
        db_sev = str(dbs.get("severity") or "") if isinstance(dbs, dict) else ""
        summary = str(rec.get("summary") or rec.get("details") or "")[:300]
        adv_rows.append(
            (rid, str(rec.get("modified") or ""), summary, json.dumps(aliases), json.dumps(severity), db_sev)
        )
        for a in aliases:
            alias_rows.append((a, rid))
        for aff in rec.get("affected") or []:
            if not isinstance(aff, dict):
                continue
            pkg = aff.get("package")
            if not isinstance(pkg, dict) or not pkg.get("ecosystem") or not pkg.get("name"):
                continue
            eco = str(pkg["ecosystem"])
            ranges = [r for r in (aff.get("ranges") or []) if isinstance(r, dict) and r.get("type") != "GIT"]
            versions = [v for v in (aff.get("versions") or []) if isinstance(v, str)]
            es = aff.get("ecosystem_specific")
            urgency = ""
            if isinstance(es, dict):
                urgency = str(es.get("urgency") or es.get("severity") or "")
            if not ranges and not versions:
                continue
            aff_rows.append(
                (rid, eco, package_name(eco, str(pkg["name"])), json.dumps(ranges), json.dumps(versions), urgency)
            )

    # -- queries --------------------------------------------------------------------------------------
    def affected(self, ecosystem: str, name: str) -> list[tuple[Any, ...]]:
        """(advisory, ranges, versions, urgency) rows for one package of one ecosystem."""
        key = (ecosystem, package_name(ecosystem, name))
        rows = self._cache.get(key)
        if rows is None:
            rows = self._cache[key] = self.con.execute(
                "SELECT advisory, ranges, versions, urgency FROM affected WHERE ecosystem = ? AND name = ?", key
            ).fetchall()
        return rows

    def advisory(self, rid: str) -> tuple[str, list[str], list[dict[str, Any]], str] | None:
        """(summary, aliases, severity entries, database_specific severity) of an advisory."""
        row = self.con.execute(
            "SELECT summary, aliases, severity, db_severity FROM advisory WHERE id = ?", (rid,)
        ).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1]), json.loads(row[2]), row[3]

    def related(self, names: list[str]) -> list[str]:
        """Advisories that are, or alias, any of ``names`` (to borrow a severity)."""
        out: list[str] = []
        for n in names:
            out += [r[0] for r in self.con.execute("SELECT advisory FROM alias WHERE alias = ?", (n,))]
            out += [r[0] for r in self.con.execute("SELECT id FROM advisory WHERE id = ?", (n,))]
        return list(dict.fromkeys(out))

    def counts(self) -> tuple[int, int]:
        adv = self.con.execute("SELECT count(*) FROM advisory").fetchone()[0]
        aff = self.con.execute("SELECT count(*) FROM affected").fetchone()[0]
        return int(adv), int(aff)
