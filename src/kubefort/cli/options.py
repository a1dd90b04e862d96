"""Options shared by every command that reads manifests (scan, rbac, netpol...)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import click
from click.core import ParameterSource

from ..api import ClusterSource, ScanOptions
from ..errors import UsageError
from .progress import no_progress_option

#: a click command function (what the option decorators take and return)
Command = Callable[..., Any]


def input_options(fn: Command) -> Command:
    """``PATH...``/``-f PATH``, ``--helm``, ``--values``, ``--kustomize``, ``--namespace``."""
    opts = [
        click.option(
            "-f",
            "--filename",
            "filenames",
            multiple=True,
            metavar="PATH",
            help="File or directory to read (repeatable; '-' for stdin), as kubectl does.",
        ),
        click.option(
            "--helm",
            "helm",
            multiple=True,
            metavar="CHART_DIR",
            help="Render a Helm chart with 'helm template' and read it.",
        ),
        click.option(
            "--values", "helm_values", multiple=True, metavar="FILE", help="Values file for --helm (repeatable)."
        ),
        click.option(
            "--kustomize", "kustomize", multiple=True, metavar="DIR", help="Render a Kustomize directory and read it."
        ),
        click.option(
            "-n",
            "--namespace",
            default="default",
            show_default=True,
            help="Namespace assumed for namespaced objects that name none (as kubectl does).",
        ),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


#: the severities options take, lowest first
SEVERITY = click.Choice(["info", "low", "medium", "high", "critical"])


def judging_options(
    *,
    rules: str = "Run only these rules (IDs, slugs or KF-AREA-*; comma-separated).",
    min_severity: str | None = "Hide findings below this severity.  [default: info]",
    fail_on: str = "Exit 1 when a finding is at or above this severity.  [default: high]",
    config: str = "Config file (.kubefort.yaml).",
    baseline: str | None = "A previous JSON report: its findings are marked suppressed, only new ones count.",
    selection: bool = True,
) -> Callable[[Command], Command]:
    """``--rules``/``--skip-rules`` (``selection``), ``--min-severity``, ``--fail-on``, ``--config`` and
    ``--baseline``: what every command that judges rules takes, with its own help where its meaning differs
    (None leaves an option out)."""
    opts = []
    if selection:
        opts += [
            click.option("--rules", "rules", multiple=True, metavar="IDS", help=rules),
            click.option(
                "--skip-rules", multiple=True, metavar="IDS", help="Do not run these rules (comma-separated)."
            ),
        ]
    if min_severity is not None:
        opts.append(click.option("--min-severity", type=SEVERITY, default=None, help=min_severity))
    opts += [
        click.option("--fail-on", type=SEVERITY, default=None, help=fail_on),
        click.option("--config", type=click.Path(dir_okay=False), default=None, help=config),
    ]
    if baseline is not None:
        opts.append(click.option("--baseline", type=click.Path(dir_okay=False), default=None, help=baseline))

    def apply(fn: Command) -> Command:
        for o in reversed(opts):
            fn = o(fn)
        return fn

    return apply


def split_values(values: tuple[str, ...]) -> list[str]:
    """The values of repeatable, comma-separated options (``--rules A,B --rules C``)."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def cluster_options(
    *, flag: bool = True, namespace: bool = False, whole: bool = False, packed: bool = False
) -> Callable[[Command], Command]:
    """The options that make a command read a live cluster (or a snapshot) instead of files.

    The command receives ``cluster`` (a :class:`kubefort.api.ClusterSource`, or None without
    ``--cluster``) and, with ``flag``, ``snapshot`` (a snapshot file, or None). ``flag``: the command
    also reads files, so ``--cluster``/``--snapshot FILE`` choose the source; without it the command
    always reads a cluster. ``namespace``: declare ``-n`` here (commands with :func:`input_options` have
    it already: there, ``-n NS`` given on the command line restricts a cluster read to that namespace).
    ``whole``: the command reads the whole cluster whatever its ``-n`` means (the namespace of a query,
    of manifests), and may have an ``-A`` of its own: no ``-A`` and no ``--secret-values`` are declared.
    ``packed`` (with :func:`input_options` above this decorator): the command receives one ``inputs``
    (:class:`Inputs`) instead of the values of both decorators one by one.
    """

    def decorate(fn: Command) -> Command:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> Any:
            use = kw.pop("use_cluster", True)
            keys = _CLUSTER_KEYS if not whole else _WHOLE_KEYS  # a command's own -A stays its own
            given = {k: kw.pop(k) for k in keys if k in kw}
            all_namespaces = given.pop("all_namespaces", False)
            ctx = click.get_current_context()
            src = ctx.get_parameter_source("namespace")
            ns = kw.get("namespace") if src not in (None, ParameterSource.DEFAULT) and not whole else None
            if all_namespaces and ns is not None:
                raise click.UsageError("-n/--namespace and -A/--all-namespaces: choose one")
            snapshot = kw.get("snapshot") if flag else None
            if use and snapshot is not None:
                raise click.UsageError("--cluster and --snapshot: choose one")
            if not use and snapshot is None:
                for key in given:
                    if ctx.get_parameter_source(key) not in (None, ParameterSource.DEFAULT):
                        raise click.UsageError(f"--{key.replace('_', '-')} applies to --cluster only")
            kw["cluster"] = ClusterSource(namespace=ns, **given) if use else None
            if packed:
                kw["inputs"] = Inputs(**{k: kw.pop(k) for k in _INPUT_KEYS if k in kw})
            return fn(*args, **kw)

        opts = [
            click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help=_H["kubeconfig"]),
            click.option("--context", default=None, metavar="NAME", help=_H["context"]),
            click.option("--qps", type=click.FloatRange(min=0.1), default=50.0, show_default=True, help=_H["qps"]),
            click.option("--burst", type=click.IntRange(min=1), default=100, show_default=True, help=_H["burst"]),
            click.option(
                "--request-timeout",
                type=click.FloatRange(min=0.1),
                default=60.0,
                show_default=True,
                metavar="SECONDS",
                help=_H["request_timeout"],
            ),
        ]
        if not whole:
            opts.insert(2, click.option("-A", "--all-namespaces", is_flag=True, help=_H["all_namespaces"]))
        if flag and not whole:  # a snapshot never holds Secret values: asking for them is for scans only
            opts.append(click.option("--secret-values", is_flag=True, help=_H["secret_values"]))
        if flag:
            opts[:0] = [
                click.option("--cluster", "use_cluster", is_flag=True, help=_H["cluster"]),
                click.option(
                    "--snapshot", type=click.Path(dir_okay=False), default=None, metavar="FILE", help=_H["snapshot"]
                ),
            ]
        if namespace:
            opts.append(click.option("-n", "--namespace", default=None, help=_H["namespace"]))
        out: Any = no_progress_option(wrapper)  # a cluster read is long work: its progress line can be turned off
        for o in reversed(opts):
            out = o(out)
        return out  # type: ignore[no-any-return]

    return decorate


_CLUSTER_KEYS = ("kubeconfig", "context", "all_namespaces", "qps", "burst", "request_timeout", "secret_values")
_WHOLE_KEYS = ("kubeconfig", "context", "qps", "burst", "request_timeout")
_H = {
    "cluster": "Read the objects from the cluster of the kubeconfig's current (or --context) context.",
    "snapshot": "Read the objects from a snapshot file (kubefort cluster snapshot save).",
    "kubeconfig": "Kubeconfig file.  [default: $KUBECONFIG, ~/.kube/config, or the pod's service account]",
    "context": "Kubeconfig context to use.  [default: the current context]",
    "all_namespaces": "Read every namespace (the default for a cluster read; -n NS reads one).",
    "qps": "Requests per second to the API server (client-side limit).",
    "burst": "Requests allowed in a burst above --qps.",
    "request_timeout": "Time allowed for one API request, body included.",
    "secret_values": "Keep Secret values in memory for the secret-content rules (never written anywhere).",
    "namespace": "Read namespaced objects of this namespace only.  [default: all namespaces]",
}


_INPUT_KEYS = ("filenames", "helm", "helm_values", "kustomize", "namespace", "cluster", "snapshot")


@dataclasses.dataclass(frozen=True, slots=True)
class Inputs:
    """What a command reads (:func:`input_options` and :func:`cluster_options` with ``packed``): files
    (``-f``), Helm charts and their values, Kustomize directories, the namespace of manifests that name
    none, or a cluster (``--cluster``) or snapshot (``--snapshot FILE``)."""

    filenames: tuple[str, ...] = ()
    helm: tuple[str, ...] = ()
    helm_values: tuple[str, ...] = ()
    kustomize: tuple[str, ...] = ()
    namespace: str = "default"
    cluster: ClusterSource | None = None
    snapshot: str | None = None

    @property
    def live(self) -> bool:
        """Whether the objects come from a cluster or a snapshot of one."""
        return self.cluster is not None or self.snapshot is not None

    @property
    def files(self) -> bool:
        """Whether files, charts or Kustomize directories are given."""
        return bool(self.filenames or self.helm or self.kustomize)

    def only_files(self) -> Inputs:
        """These inputs without the cluster or snapshot."""
        return dataclasses.replace(self, cluster=None, snapshot=None)

    def only_cluster(self) -> Inputs:
        """The cluster or snapshot of these inputs, without the files."""
        return Inputs(namespace=self.namespace, cluster=self.cluster, snapshot=self.snapshot)

    def scan_options(self, paths: Sequence[str] = (), *, required: bool = True, **extra: Any) -> ScanOptions:
        """As ScanOptions, a command's PATH arguments (``paths``) before the ``-f`` ones. ``required``: a
        usage error when there is nothing to read (not for files applied on a cluster read already, or
        commands that have an answer without input)."""
        if required and not paths and not self.files and not self.live:
            raise UsageError(
                "nothing to read: give files or directories (-f), '-' for stdin, --helm, --kustomize, "
                "--cluster or --snapshot FILE"
            )
        return ScanOptions(
            paths=[*paths, *self.filenames],
            helm=list(self.helm),
            helm_values=list(self.helm_values),
            kustomize=list(self.kustomize),
            namespace=self.namespace,
            cluster=self.cluster,
            snapshot=self.snapshot,
            **extra,
        )
