"""Output of ``kubefort backup``: the records and results of ``kubefort.etcd.backup.ops`` as JSON
(the documents as they are) or as lines of text. Text from the repository (IDs, messages) passes
through :func:`~kubefort.reporters.printable`: a tampered manifest must not write to the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from ..etcd.backup.repo import RepoIssue
from . import Format, printable
from .etcd import write_json


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_keygen(path: str, key_id: str, out: IO[str]) -> None:
    out.write(
        f"wrote {printable(path)} (key id {key_id}); keep it off the cluster: whoever holds it can read the backups\n"
    )


def render_created(rec: Mapping[str, Any], fmt: Format, out: IO[str]) -> None:
    """The manifest record of a new backup."""
    if fmt is Format.JSON:
        write_json(rec, out)
        return
    e = rec.get("etcd") or {}
    ks = e.get("keyspace") or {}
    extra = f", revision {e['revision']}, {ks.get('keys', '?')} keys" if e else ""
    if rec.get("objects"):
        extra += f", {rec['objects']['objects']} objects"
    out.write(
        f"backup {printable(rec['id'])} ({printable(rec['kind'])}): {size_text(rec['size'])} stored{extra}, "
        f"in {rec['duration_s']:.2f}s\n"
    )


def render_list(items: Sequence[Mapping[str, Any]], fmt: Format, out: IO[str]) -> None:
    """The backups of ``ops.list_backups``."""
    if fmt is Format.JSON:
        write_json({"backups": [{k: it[k] for k in ("id", "created", "size", "kind")} for it in items]}, out)
        return
    lines = [f"{'ID':<27} {'CREATED':<21} {'SIZE':>10}  {'KIND':<13} REVISION"]
    for it in items:
        lines.append(
            f"{printable(it['id']):<27} {printable(it['created']):<21} {size_text(it['size']):>10}  "
            f"{printable(it['kind']):<13} {it['revision'] or '-'}"
        )
    out.write("\n".join(lines) + "\n")


def render_issues(issues: Iterable[RepoIssue], err: IO[str]) -> None:
    """Problems of the manifest chain, as warnings or errors of the command (standard error)."""
    for i in issues:
        err.write(f"kubefort: {i.level}: {printable(i.message)}\n")


def render_verify(doc: Mapping[str, Any], fmt: Format, out: IO[str]) -> None:
    """``ops.VerifyResult.to_dict()``."""
    if fmt is Format.JSON:
        write_json(doc, out)
        return
    lines = [f"{i['level'].upper()}: {printable(i['message'])}" for i in doc["issues"]]
    head = doc["head"]
    lines.append(
        f"{len(doc['verified'])} backup(s) verified; manifest HEAD at entry {head['seq']} "
        f"({printable(head['hash'][:16]) or '-'})"
    )
    lines.append("result: OK" if doc["ok"] else "result: FAILED")
    out.write("\n".join(lines) + "\n")


def render_prune(res: Mapping[str, Any], fmt: Format, out: IO[str], err: IO[str]) -> None:
    """``ops.prune``: what was kept and pruned; blobs retained by the storage as warnings."""
    if fmt is Format.JSON:
        write_json(res, out)
    else:
        verb = "would prune" if res["dry_run"] else "pruned"
        pruned = printable(", ".join(res["pruned"]))
        out.write(
            f"kept {len(res['kept'])}, {verb} {len(res['pruned'])}: {pruned or '-'}"
            + ("" if res["dry_run"] else f"; {res['deleted_blobs']} blob(s) deleted")
            + "\n"
        )
        for r in res.get("retained", []):
            err.write(f"kubefort: warning: {printable(r)}\n")


def render_restore(res: Mapping[str, Any], out: IO[str]) -> None:
    """``ops.restore``: where the data went, and how to start etcd on it."""
    lines = []
    if "data_dir" in res:
        d, name, peer = printable(res["data_dir"]), printable(res["name"]), printable(res["peer_url"])
        lines.append(
            f"restored backup {printable(res['id'])} into {d} (member {name}, peer {peer}, "
            f"revision {res['revision']}) in {res['seconds']:.2f}s"
        )
        lines.append(
            f"start it with: etcd --name {name} --data-dir {d} --initial-advertise-peer-urls {peer} "
            f"--listen-peer-urls {peer} ..."
        )
    if "objects_dir" in res:
        lines.append(f"unpacked {res['objects']} objects into {printable(res['objects_dir'])}")
    if lines:
        out.write("\n".join(lines) + "\n")


def render_drill(doc: Mapping[str, Any], fmt: Format, out: IO[str]) -> None:
    """``ops.DrillResult.to_dict()``."""
    if fmt is Format.JSON:
        write_json(doc, out)
        return
    lines = [
        f"{'OK  ' if c['ok'] else 'FAIL'} {printable(c['check'])}: {printable(c['detail'])}" for c in doc["checks"]
    ]
    t = doc["timings_s"]
    lines.append(
        f"recovery time {t.get('recovery', 0):.2f}s (decrypt {t.get('decrypt', 0):.2f}s, restore {t.get('restore', 0):.2f}s, "
        f"start {t.get('start', 0):.2f}s); compare {t.get('compare', 0):.2f}s"
    )
    lines.append("result: OK" if doc["ok"] else "result: FAILED")
    out.write("\n".join(lines) + "\n")


def render_app_backup(rec: Mapping[str, Any], fmt: Format, out: IO[str]) -> None:
    """The record of ``app.backup_namespaces``: counts by kind and by why objects were skipped (names
    stay in the encrypted backup; no value is ever printed)."""
    if fmt is Format.JSON:
        write_json(rec, out)
        return
    a = rec["app"]
    lines = [
        f"backup {printable(rec['id'])} (namespaces {printable(', '.join(a['namespaces']))}): {a['objects']} objects, "
        f"{size_text(rec['size'])} stored, in {rec['duration_s']:.2f}s"
    ]
    lines += [f"  {n:>6}  {printable(k)}" for k, n in a["kinds"].items()]
    if a["skipped"]:
        lines.append("skipped: " + ", ".join(f"{n} {printable(why)}" for why, n in a["skipped"].items()))
    for v in rec.get("volumes") or ():
        claim = printable(f"{v['namespace']}/{v['claim']}")
        if v["ok"]:
            lines.append(
                f"volume {claim}: snapshot {printable(str(v.get('snapshot'))[:12])}, {v.get('files')} files, "
                f"digest {printable(str(v.get('sha256'))[:16])}"
            )
        else:
            lines.append(f"volume {claim}: FAILED: {printable(v.get('reason') or '')}")
    out.write("\n".join(lines) + "\n")


def render_app_restore(doc: Mapping[str, Any], fmt: Format, out: IO[str]) -> None:
    """``app.AppRestoreResult.to_dict()``: every object with what was done, then the drill's verdict."""
    if fmt is Format.JSON:
        write_json(doc, out)
        return
    lines = []
    for o in doc["objects"]:
        mark = {True: "present", False: "MISSING" if o["differences"] == ["absent"] else "DIFFERS", None: ""}[
            o["present"]
        ]
        detail = f" ({printable(o['detail'])})" if o["detail"] else ""
        diffs = f" at {printable(', '.join(o['differences']))}" if o["present"] is False else ""
        lines.append(f"{o['phase']:<10} {o['action']:<12} {printable(o['object'])}{detail} {mark}{diffs}".rstrip())
    for v in doc.get("volumes") or ():
        mark = {True: "equal", False: "DIFFERS" if v["action"] == "restored" else "", None: ""}[v["equal"]]
        b, r = v["backup"], v["restored"]
        got = (
            f" (backup {b['files']} files {str(b['sha256'])[:12]}, restored {r['files']} files {str(r['sha256'])[:12]})"
        )
        detail = f" ({printable(v['detail'])})" if v["detail"] else ""
        lines.append(
            f"{'volumes':<10} {v['action']:<12} {printable(v['claim'])} from snapshot "
            f"{printable(str(v['snapshot'])[:12])}{detail} {mark}{got if v['action'] == 'restored' else ''}".rstrip()
        )
    if doc.get("replaced_namespaces"):
        verb = "would delete first" if doc["dry_run"] else "deleted first"
        lines.insert(0, f"{'namespaces':<10} {verb:<12} {printable(', '.join(doc['replaced_namespaces']))}")
    counts = ", ".join(f"{n} {a}" for a, n in doc["counts"].items())
    d = doc["drill"]
    what = "plan (dry run, nothing written)" if doc["dry_run"] else f"drill: {d['present']}/{d['checked']} present"
    if doc.get("volumes") and not doc["dry_run"]:
        what += f", volumes {d['volumes_equal']}/{len(doc['volumes'])} equal"
    lines.append(f"restore of {printable(doc['id'])} into {printable(doc['context'])}: {counts}; {what}")
    lines.append("result: OK" if doc["ok"] else "result: FAILED")
    out.write("\n".join(lines) + "\n")
