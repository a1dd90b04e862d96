"""BAK rules: whether the cluster is backed up, by Velero, Kasten K10, Stash/KubeStash or etcd snapshots.

They judge a whole cluster (catalogue input ``cluster``): on manifests they are not evaluated. Resources
are read as the tools define them:

- Velero (``velero.io/v1``): a ``Schedule`` has ``spec.schedule`` (a cron expression as robfig/cron
  parses it: five fields or a ``@daily``-style descriptor, optional ``CRON_TZ=``), ``spec.paused``,
  ``spec.template`` (a BackupSpec: ``includedNamespaces``/``excludedNamespaces`` with ``*`` globs,
  excluded winning; ``includedResources``/``excludedResources`` and the namespace-scoped variants;
  ``labelSelector`` or ``orLabelSelectors``; ``storageLocation``, empty for the default location) and
  ``status.phase`` (``New``, ``Enabled``, ``FailedValidation``), ``status.lastBackup`` (when the last
  Backup was *created*, whether it succeeded or not). Each Backup a schedule makes carries the label
  ``velero.io/schedule-name`` and ends in ``status.phase`` ``Completed``, ``PartiallyFailed``, ``Failed``
  or ``FailedValidation``. A ``BackupStorageLocation`` has ``spec.default``, ``spec.accessMode``
  (``ReadOnly`` refuses new backups) and ``status.phase`` (``Available``/``Unavailable``).
- Kasten K10 (``config.kio.kasten.io``): a ``Policy`` with ``spec.actions[].action: backup``, a
  ``spec.frequency`` (``@onDemand`` runs only when asked) or a ``spec.presetRef``, a ``spec.selector``
  over applications (``k10.kasten.io/appNamespace`` is the namespace name, other keys namespace
  labels; none selects every application) and ``status.validation``. Its runs are ``RunAction``s
  (``actions.kio.kasten.io``) whose ``spec.subject`` names the Policy, ending in ``status.state``
  ``Complete``, ``Failed``, ``Skipped``...
- Stash (``stash.appscode.com``) and KubeStash (``core.kubestash.com``) ``BackupConfiguration``s
  (``spec.paused``), CronJobs that run ``etcdctl snapshot save`` and CronJobs that run ``kubefort
  backup namespace NS...`` (what ``kubefort backup schedule`` makes; not suspended): these hold the
  objects of the namespaces they name, Secrets included, and, run with ``--restic-repository``,
  ``--restic-image`` and ``--kubefort-image`` (what the command needs to back up volume data), the
  data of their PersistentVolumeClaims too.
"""

from __future__ import annotations

import calendar
import datetime as dt
import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.objects import K8sObject, Path
from ..model.selectors import label_selector_matches
from ..model.workloads import ContainerSet, pod_spec

REF = "backups: Velero, Kasten K10, Stash/KubeStash, etcd snapshots"
VELERO = "velero.io"
K10 = "config.kio.kasten.io"
K10_ACTIONS = "actions.kio.kasten.io"
STASH_GROUPS = ("stash.appscode.com", "core.kubestash.com")
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
SCHEDULE_LABEL = "velero.io/schedule-name"
K10_APP_NAMESPACE = "k10.kasten.io/appNamespace"
FAILED_BACKUP_PHASES = frozenset({"Failed", "PartiallyFailed", "FailedValidation"})
#: Secrets the cluster makes and remakes by itself: nothing to restore
GENERATED_SECRET_TYPES = frozenset({"kubernetes.io/service-account-token"})
LOOKED_FOR = (
    "Velero Schedules (velero.io), Kasten K10 Policies with a backup action (config.kio.kasten.io), "
    'Stash/KubeStash BackupConfigurations and CronJobs running "etcdctl snapshot save" or '
    '"kubefort backup namespace"'
)
NOW = {"now": ""}  # the time staleness is judged at (ISO 8601, for reproducible reports); empty: the clock
_ETCD_SNAPSHOT = re.compile(r"\betcdctl\b.*\bsnapshot\s+save\b", re.S)
#: the backup tools' kinds as the rules read them, with their API groups (``Schedule``, ``Policy`` and
#: ``Backup`` are kinds of other tools too: K8up, Kyverno, database operators)
MECHANISM_KINDS = (
    f"Schedule.{VELERO}",
    f"Policy.{K10}",
    *(f"BackupConfiguration.{g}" for g in STASH_GROUPS),
    "CronJob",
)


# --------------------------------------------------------------------------------------------
# the backup tools' objects


def _spec(obj: K8sObject) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _of(inv: Inventory, kind: str, *groups: str) -> list[K8sObject]:
    return [o for o in inv.of_kind(kind) if o.group in groups]


def _is_velero_schedule(obj: K8sObject) -> bool:
    return obj.kind == "Schedule" and obj.group == VELERO


def _is_k10_policy(obj: K8sObject) -> bool:
    return obj.kind == "Policy" and obj.group == K10


def _is_k10_backup(policy: K8sObject) -> bool:
    actions = _spec(policy).get("actions")
    return isinstance(actions, list) and any(isinstance(a, dict) and a.get("action") == "backup" for a in actions)


def _velero_inactive(schedule: K8sObject) -> str | None:
    """Why a Velero Schedule makes no backups, or None when it runs."""
    if _spec(schedule).get("paused") is True:
        return "paused"
    if schedule.get("status", "phase") == "FailedValidation":
        return "failed validation"
    return None


def _k10_inactive(policy: K8sObject) -> str | None:
    spec = _spec(policy)
    if spec.get("frequency") == "@onDemand":
        return "runs on demand only"
    if "frequency" not in spec and not spec.get("presetRef"):
        return "has no frequency (runs on demand only)"
    if policy.get("status", "validation") == "Failed":
        return "failed validation"
    return None


def _stash_inactive(config: K8sObject) -> str | None:
    return "paused" if _spec(config).get("paused") is True else None


def _runs_etcd_snapshot(cronjob: K8sObject) -> bool:
    pod = pod_spec(cronjob)
    if pod is None:
        return False
    for c in pod.containers(ContainerSet.CI):
        words = [w for key in ("command", "args") for w in (c.raw.get(key) or []) if isinstance(w, str)]
        if _ETCD_SNAPSHOT.search(" ".join(words)):
            return True
    return False


def kubefort_namespaces(cronjob: K8sObject) -> frozenset[str] | None:
    """The namespaces a CronJob backs up with ``kubefort backup namespace NS...`` (the command, or the
    arguments of kubefort's image), or None when it runs no such backup."""
    pod = pod_spec(cronjob)
    if pod is None:
        return None
    found: set[str] = set()
    hit = False
    for c in pod.containers(ContainerSet.CI):
        words = [w for key in ("command", "args") for w in (c.raw.get(key) or []) if isinstance(w, str)]
        raw_image = c.raw.get("image")
        image = raw_image if isinstance(raw_image, str) else ""
        for i in range(len(words) - 1):
            if words[i : i + 2] != ["backup", "namespace"]:
                continue
            if not (any("kubefort" in w for w in words[:i]) or "kubefort" in image.split("@")[0]):
                continue
            hit = True
            for w in words[i + 2 :]:
                if w.startswith("-"):
                    break
                found.add(w)
    return frozenset(found) if hit else None


#: the options ``kubefort backup namespace`` needs to back up the claims' data (given together, or it refuses)
VOLUME_OPTIONS = ("--restic-repository", "--restic-image", "--kubefort-image")


def kubefort_volume_data(cronjob: K8sObject) -> bool:
    """Whether a CronJob's ``kubefort backup namespace`` also backs up volume data: run with every option
    of :data:`VOLUME_OPTIONS` (``--opt value`` or ``--opt=value``)."""
    if kubefort_namespaces(cronjob) is None:
        return False
    pod = pod_spec(cronjob)
    if pod is None:
        return False
    for c in pod.containers(ContainerSet.CI):
        words = [w for key in ("command", "args") for w in (c.raw.get(key) or []) if isinstance(w, str)]
        if "namespace" not in words:
            continue
        given = {w.split("=", 1)[0] for w in words[words.index("namespace") :] if w.startswith("--")}
        if all(o in given for o in VOLUME_OPTIONS):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Mechanisms:
    """The backup mechanisms of a cluster that run (``active``) and those that do not, with why."""

    active: tuple[K8sObject, ...]
    inactive: tuple[tuple[K8sObject, str], ...]
    etcd: tuple[K8sObject, ...]  # CronJobs taking etcd snapshots (part of ``active``)
    kubefort: tuple[tuple[K8sObject, frozenset[str]], ...] = ()  # kubefort namespace backups (in ``active``)


def mechanisms(inv: Inventory) -> Mechanisms:
    def build() -> Mechanisms:
        active: list[K8sObject] = []
        inactive: list[tuple[K8sObject, str]] = []
        found: list[tuple[K8sObject, str | None]] = [(s, _velero_inactive(s)) for s in _of(inv, "Schedule", VELERO)]
        found += [(p, _k10_inactive(p)) for p in _of(inv, "Policy", K10) if _is_k10_backup(p)]
        found += [(b, _stash_inactive(b)) for b in _of(inv, "BackupConfiguration", *STASH_GROUPS)]
        for o, why in found:
            if why is None:
                active.append(o)
            else:
                inactive.append((o, why))
        etcd = []
        kubefort: list[tuple[K8sObject, frozenset[str]]] = []
        for cj in inv.of_kind("CronJob"):
            namespaces = kubefort_namespaces(cj)
            if not _runs_etcd_snapshot(cj) and namespaces is None:
                continue
            if _spec(cj).get("suspend") is True:
                inactive.append((cj, "suspended"))
            elif namespaces is None:
                etcd.append(cj)
            else:
                kubefort.append((cj, namespaces))
        runs = [*active, *etcd, *(cj for cj, _ in kubefort)]
        return Mechanisms(tuple(runs), tuple(inactive), tuple(etcd), tuple(kubefort))

    return inv.cached("bak-mechanisms", build)


def _named(obj: K8sObject) -> str:
    what = {
        "Schedule": "Velero Schedule",
        "Policy": "K10 Policy",
        "BackupConfiguration": "BackupConfiguration",
        "CronJob": "CronJob",
    }.get(obj.kind, obj.kind)
    return f"{what} {obj.namespace}/{obj.name}" if obj.namespace else f"{what} {obj.name}"


# --------------------------------------------------------------------------------------------
# KF-BAK-001


@rule(
    id="KF-BAK-001",
    slug="no-backup-mechanism",
    title="No backup mechanism detected",
    severity=Severity.MEDIUM,
    scope=Scope.CLUSTER,
    needs=MECHANISM_KINDS,
    rationale="Without scheduled backups a deleted namespace, a failed upgrade or ransomware that encrypts "
    "volumes and etcd leaves nothing to restore from.",
    remediation="Schedule backups of the cluster's resources and volumes (a Velero Schedule, a Kasten K10 backup "
    "policy, Stash/KubeStash) and of etcd (etcdctl snapshot save), stored outside the cluster.",
    refs={"kubefort": REF},
)
def no_backup_mechanism(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    found = mechanisms(inv)
    if found.active:
        return
    idle = "; ".join(f"{_named(o)} {why}" for o, why in found.inactive)
    yield Violation(
        (),
        f"no backup mechanism runs in the cluster: looked for {LOOKED_FOR}"
        + (f"; found, but not running: {idle}" if idle else ""),
    )


# --------------------------------------------------------------------------------------------
# KF-BAK-002: cron schedules (robfig/cron, as Velero parses them)

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_NAMES = {
    **{m.lower(): i for i, m in enumerate(calendar.month_abbr) if m},
    **{d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron schedule: the allowed values of each field, or a constant interval (``@every``)."""

    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    any_day: bool = True  # day-of-month was * or ?: with a restricted weekday, both must match (else either)
    any_weekday: bool = True
    every: float | None = None  # seconds, for @every
    zone: dt.tzinfo = dt.UTC


def _field(text: str, lo: int, hi: int) -> tuple[frozenset[int], bool]:
    """A cron field: the values it allows and whether it is a plain ``*``/``?`` (robfig's star bit)."""
    out: set[int] = set()
    star = False
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(part)
        if rng in ("*", "?"):
            start, end = lo, hi
            star = step == 1
        else:
            a, dash, b = rng.partition("-")
            start = _value(a, lo, hi)
            end = _value(b, lo, hi) if dash else (hi if step_text else start)
        if start > end:
            raise ValueError(part)
        out.update(range(start, end + 1, step))
    return frozenset(out), star


def _value(text: str, lo: int, hi: int) -> int:
    v = _NAMES[text.lower()] if text.lower() in _NAMES else int(text)
    if hi == 6 and v == 7:
        v = 0  # Sunday written as 7
    if not lo <= v <= hi:
        raise ValueError(text)
    return v


def parse_cron(text: str) -> Cron:
    """Parse a Velero ``spec.schedule``; ValueError when robfig/cron would refuse it."""
    words = text.split()
    zone: dt.tzinfo = dt.UTC
    if words and words[0].startswith(("CRON_TZ=", "TZ=")):
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(words.pop(0).split("=", 1)[1])
    if len(words) == 2 and words[0] == "@every":
        seconds = _duration(words[1])
        if seconds <= 0:
            raise ValueError(text)
        return Cron(every=seconds, zone=zone)
    if len(words) == 1 and words[0] in _DESCRIPTORS:
        words = _DESCRIPTORS[words[0]].split()
    if len(words) != 5:
        raise ValueError(text)
    minutes, _ = _field(words[0], 0, 59)
    hours, _ = _field(words[1], 0, 23)
    days, any_day = _field(words[2], 1, 31)
    months, _ = _field(words[3], 1, 12)
    weekdays, any_weekday = _field(words[4], 0, 6)
    return Cron(minutes, hours, days, months, weekdays, any_day, any_weekday, None, zone)


def _duration(text: str) -> float:
    """A Go duration (``1h30m``)."""
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            raise ValueError(text)
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(text)
    return total


def _day_matches(c: Cron, t: dt.datetime) -> bool:
    dom = t.day in c.days
    dow = (t.weekday() + 1) % 7 in c.weekdays  # cron: 0 is Sunday; Python: 0 is Monday
    return dom and dow if c.any_day or c.any_weekday else dom or dow


def fire_times(c: Cron, after: dt.datetime, until: dt.datetime, limit: int) -> list[dt.datetime]:
    """Up to ``limit`` times the schedule fires in (``after``, ``until``]."""
    out: list[dt.datetime] = []
    if c.every is not None:
        t = after
        while len(out) < limit:
            t = t + dt.timedelta(seconds=c.every)
            if t > until:
                break
            out.append(t)
        return out
    local = after.astimezone(c.zone).replace(tzinfo=None, second=0, microsecond=0) + dt.timedelta(minutes=1)
    end = until.astimezone(c.zone).replace(tzinfo=None)
    steps = 0
    while local <= end and len(out) < limit and steps < 200_000:  # bounded: "0 0 30 2 *" never fires
        steps += 1
        if local.month not in c.months:
            y, m = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            local = dt.datetime(y, m, 1)
        elif not _day_matches(c, local):
            local = (local + dt.timedelta(days=1)).replace(hour=0, minute=0)
        elif local.hour not in c.hours:
            local = (local + dt.timedelta(hours=1)).replace(minute=0)
        elif local.minute not in c.minutes:
            local += dt.timedelta(minutes=1)
        else:
            out.append(local.replace(tzinfo=c.zone).astimezone(dt.UTC))
            local += dt.timedelta(minutes=1)
    return [t for t in out if t <= until]


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp of a Kubernetes object (``2026-01-02T03:04:05Z``), None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _now(ctx: Context) -> dt.datetime:
    given = ctx.param("now")
    if isinstance(given, dt.datetime):
        return given if given.tzinfo else given.replace(tzinfo=dt.UTC)
    t = parse_time(given)
    if given and t is None:
        raise NotEvaluated(f"parameter now {given!r} is not an RFC 3339 time like 2026-03-01T12:00:00Z")
    return t or dt.datetime.now(dt.UTC)


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _latest(objs: Sequence[K8sObject], *when: tuple[str, ...]) -> K8sObject | None:
    """The object with the latest timestamp at the first of the ``when`` paths it has."""
    best: tuple[dt.datetime, K8sObject] | None = None
    for o in objs:
        t = next((t for t in (parse_time(o.get(*p)) for p in when) if t is not None), None)
        if t is not None and (best is None or t > best[0]):
            best = (t, o)
    return best[1] if best else None


def _storage_location(schedule: K8sObject, inv: Inventory) -> tuple[str, K8sObject | None]:
    """The BackupStorageLocation a Schedule's backups go to: the named one, else the default one."""
    name = schedule.get("spec", "template", "storageLocation")
    locations = [b for b in inv.in_namespace(schedule.namespace or "", "BackupStorageLocation") if b.group == VELERO]
    if isinstance(name, str) and name:
        return name, next((b for b in locations if b.name == name), None)
    default = next((b for b in locations if _spec(b).get("default") is True), None)
    default = default or next((b for b in locations if b.name == "default"), None)
    return (default.name if default else "default"), default


def _velero_problems(s: K8sObject, ctx: Context) -> Iterator[Violation]:
    inv, spec = ctx.inventory, _spec(s)
    label = f'Velero Schedule "{s.name}"'
    if spec.get("paused") is True:
        yield Violation(("spec", "paused"), f"{label} is paused: it makes no backups", subcode="paused")
        return
    if s.get("status", "phase") == "FailedValidation":
        errors = s.get("status", "validationErrors")
        errs = [str(e) for e in errors] if isinstance(errors, list) else []
        why = f": {errs[0]}" + (f" (and {len(errs) - 1} more)" if len(errs) > 1 else "") if errs else ""
        yield Violation(
            ("status", "phase"), f"{label} failed validation, so it makes no backups{why}", subcode="invalid"
        )
        return
    backups = [
        b
        for b in inv.in_namespace(s.namespace or "", "Backup")
        if b.group == VELERO and b.labels.get(SCHEDULE_LABEL) == s.name
    ]
    last = _latest(backups, ("status", "startTimestamp"), ("metadata", "creationTimestamp"))
    if last is not None and last.get("status", "phase") in FAILED_BACKUP_PHASES:
        yield Violation(
            ("status", "lastBackup"),
            f'{label}: its latest backup "{last.name}" ended {last.get("status", "phase")}',
            subcode="failed",
        )
    where, bsl = _storage_location(s, inv)
    path: Path = ("spec", "template", "storageLocation")
    if bsl is not None and bsl.get("status", "phase") == "Unavailable":
        yield Violation(
            path, f'{label} backs up to BackupStorageLocation "{where}", which is Unavailable', subcode="storage"
        )
    elif bsl is not None and _spec(bsl).get("accessMode") == "ReadOnly":
        yield Violation(
            path,
            f'{label} backs up to BackupStorageLocation "{where}", which is ReadOnly: Velero refuses new backups there',
            subcode="storage",
        )
    yield from _stale(s, label, ctx)


def _stale(s: K8sObject, label: str, ctx: Context) -> Iterator[Violation]:
    text = _spec(s).get("schedule")
    if not isinstance(text, str):
        return
    try:
        cron = parse_cron(text)
    except (ValueError, KeyError, LookupError):
        return  # Velero marks such a Schedule FailedValidation: reported above once it has
    last = parse_time(s.get("status", "lastBackup"))
    since = last or parse_time(s.get("metadata", "creationTimestamp"))
    if since is None:
        return
    due = fire_times(cron, since, _now(ctx), 2)
    if len(due) < 2:
        return
    what = f"its last backup started at {_stamp(since)}" if last else f"it has made no backup since {_stamp(since)}"
    yield Violation(
        ("status", "lastBackup") if last else ("spec", "schedule"),
        f'{label} ("{text}"): {what}, and at least two runs were due since ({_stamp(due[0])}, {_stamp(due[1])}): '
        "its backups are not being made",
        subcode="stale",
    )


def _k10_problems(p: K8sObject, ctx: Context) -> Iterator[Violation]:
    label = f'K10 Policy "{p.name}"'
    if p.get("status", "validation") == "Failed":
        yield Violation(("status", "validation"), f"{label} failed validation: it does not run", subcode="invalid")
        return
    runs = []
    for r in ctx.inventory.of_kind("RunAction"):
        subject = r.get("spec", "subject")
        if r.group != K10_ACTIONS or not isinstance(subject, dict):
            continue
        named = subject.get("kind", "Policy") == "Policy" and subject.get("name") == p.name
        if named and subject.get("namespace") in (None, "", p.namespace):
            runs.append(r)
    last = _latest(runs, ("metadata", "creationTimestamp"))
    if last is not None and last.get("status", "state") == "Failed":
        yield Violation(("status",), f'{label}: its latest run "{last.name}" Failed', subcode="failed")


def _is_backup_schedule(obj: K8sObject) -> bool:
    return _is_velero_schedule(obj) or (_is_k10_policy(obj) and _is_k10_backup(obj))


@rule(
    id="KF-BAK-002",
    slug="backup-schedule-not-running",
    title="Backup schedule paused or failing",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=[f"Schedule.{VELERO}", f"Policy.{K10}"],
    applies=_is_backup_schedule,
    whole_cluster=True,
    needs=[f"Backup.{VELERO}", f"BackupStorageLocation.{VELERO}", f"RunAction.{K10_ACTIONS}"],
    params=NOW,
    rationale="A paused, invalid or failing schedule looks like protection but leaves the last good backup "
    "growing older until a restore finds nothing recent.",
    remediation="Unpause the schedule, fix what its validation errors or failed backups report (storage location, "
    "credentials, cron expression) and check that new backups complete.",
    refs={"kubefort": REF},
)
def backup_schedule_not_running(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if _is_velero_schedule(obj):
        yield from _velero_problems(obj, ctx)
    else:
        yield from _k10_problems(obj, ctx)


# --------------------------------------------------------------------------------------------
# KF-BAK-003

_RESOURCE_NAMES = {
    "PersistentVolumeClaim": frozenset({"persistentvolumeclaims", "persistentvolumeclaim", "pvc"}),
    "Secret": frozenset({"secrets", "secret"}),
}


def _listed(patterns: Any, name: str) -> bool:
    return isinstance(patterns, list) and any(isinstance(p, str) and fnmatch.fnmatchcase(name, p) for p in patterns)


def _includes_all(patterns: Any) -> bool:
    return not isinstance(patterns, list) or not patterns or "*" in patterns


def _resource_listed(patterns: Any, kind: str) -> bool:
    names = _RESOURCE_NAMES[kind]
    return isinstance(patterns, list) and any(
        isinstance(p, str) and (p == "*" or p.lower().split(".")[0] in names) for p in patterns
    )


def _velero_covers(s: K8sObject, ns: str, obj: K8sObject) -> bool:
    t = s.get("spec", "template")
    t = t if isinstance(t, dict) else {}
    inc = t.get("includedNamespaces")
    if not _includes_all(inc) and not _listed(inc, ns):
        return False
    if _listed(t.get("excludedNamespaces"), ns):
        return False
    for inc_key, exc_key in (
        ("includedResources", "excludedResources"),
        ("includedNamespaceScopedResources", "excludedNamespaceScopedResources"),
    ):
        if not _includes_all(t.get(inc_key)) and not _resource_listed(t.get(inc_key), obj.kind):
            return False
        if _resource_listed(t.get(exc_key), obj.kind):
            return False
    selector, any_of = t.get("labelSelector"), t.get("orLabelSelectors")
    if isinstance(selector, dict):
        return label_selector_matches(selector, obj.labels)
    if isinstance(any_of, list) and any_of:
        return any(label_selector_matches(sel, obj.labels) for sel in any_of)
    return True


def _k10_covers(p: K8sObject, ns: str, ns_labels: Mapping[str, str], obj: K8sObject) -> bool:
    selector = _spec(p).get("selector")
    labels = {**ns_labels, K10_APP_NAMESPACE: ns}
    if isinstance(selector, dict) and not label_selector_matches(selector, labels):
        return False
    for action in _spec(p).get("actions") or []:
        if not isinstance(action, dict) or action.get("action") != "backup":
            continue
        params = action.get("backupParameters")
        filters = params.get("filters") if isinstance(params, dict) else None
        if not isinstance(filters, dict):
            return True
        include = filters.get("includeResources")
        if isinstance(include, list) and include and not _k10_filter_hit(include, obj):
            return False
        return not _k10_filter_hit(filters.get("excludeResources"), obj)
    return False


def _k10_filter_hit(entries: Any, obj: K8sObject) -> bool:
    """Whether a K10 resource filter list (``{group, version, resource, name}``) names ``obj``."""
    names = _RESOURCE_NAMES[obj.kind]
    return isinstance(entries, list) and any(
        isinstance(e, dict) and str(e.get("resource", "")).lower() in names and e.get("name") in (None, "", obj.name)
        for e in entries
    )


def _stash_namespace(b: K8sObject) -> str | None:
    """The namespace a Stash (``target.ref``) or KubeStash (``target``) BackupConfiguration backs up."""
    target = _spec(b).get("target")
    ref = target.get("ref") if isinstance(target, dict) and isinstance(target.get("ref"), dict) else target
    if isinstance(ref, dict):
        name, namespace = ref.get("name"), ref.get("namespace")
        if ref.get("kind") == "Namespace" and isinstance(name, str):
            return name
        if isinstance(namespace, str) and namespace:
            return namespace
    return b.namespace


def _covered_by(obj: K8sObject, ns: str, ns_labels: Mapping[str, str], found: Mechanisms) -> bool:
    for m in found.active:
        if _is_velero_schedule(m) and _velero_covers(m, ns, obj):
            return True
        if _is_k10_policy(m) and _k10_covers(m, ns, ns_labels, obj):
            return True
        if m.kind == "BackupConfiguration" and _stash_namespace(m) == ns:
            return True
        if m.kind == "CronJob" and obj.kind == "Secret" and m in found.etcd:
            return True  # an etcd snapshot holds every Secret (but no volume data)
    # a kubefort namespace backup holds the Secrets of the namespaces it names, and with its volume
    # options the data of their claims
    return any(ns in names and (obj.kind == "Secret" or kubefort_volume_data(cj)) for cj, names in found.kubefort)


def _is_system(ns: str, ctx: Context) -> bool:
    extra = ctx.param("system_namespaces") or ()
    if isinstance(extra, str):
        extra = [s.strip() for s in extra.split(",")]
    return ns in SYSTEM_NAMESPACES or ns in set(extra)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


@rule(
    id="KF-BAK-003",
    slug="namespace-not-backed-up",
    title="Backups do not cover all namespaces",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    whole_cluster=True,
    needs=[*MECHANISM_KINDS, "PersistentVolumeClaim", "Secret"],
    params={"system_namespaces": []},
    rationale="A namespace that no backup includes loses its volumes and Secrets for good when it is deleted or "
    "corrupted, although the cluster appears to be backed up.",
    remediation="Include the namespace (or its PersistentVolumeClaims and Secrets) in a backup schedule, or drop "
    "it from the schedules' excludedNamespaces and label selectors.",
    refs={"kubefort": REF},
)
def namespace_not_backed_up(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    ns, inv = obj.name, ctx.inventory
    if _is_system(ns, ctx):
        return
    held = [
        o
        for o in inv.in_namespace(ns, "PersistentVolumeClaim", "Secret")
        if o.kind == "PersistentVolumeClaim" or o.get("type") not in GENERATED_SECRET_TYPES
    ]
    if not held:
        return
    found = mechanisms(inv)
    if not found.active:
        raise NotEvaluated("no backup mechanism runs in the cluster (see KF-BAK-001)")
    ns_labels = inv.namespace_labels(ns) or {}
    missed = [o for o in held if not _covered_by(o, ns, ns_labels, found)]
    if not missed:
        return
    parts = []
    for kind in ("PersistentVolumeClaim", "Secret"):
        names = sorted(o.name for o in missed if o.kind == kind)
        if names:
            parts.append(f"{_count(len(names), kind)} ({_first(names)})")
    yield Violation(
        ("metadata", "name"),
        f'namespace "{ns}" holds {" and ".join(parts)} that no running backup covers (looked at '
        f"{_count(len(found.active), 'backup mechanism')}: {_first([_named(m) for m in found.active])})",
    )


def _first(names: Sequence[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


RULES = [no_backup_mechanism, backup_schedule_not_running, namespace_not_backed_up]
