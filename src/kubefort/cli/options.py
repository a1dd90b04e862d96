"""Options shared by every command that reads manifests (scan, rbac, netpol...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

F = Callable[..., Any]


def input_options(fn: F) -> F:
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


def split_ids(values: tuple[str, ...]) -> list[str]:
    """Rule IDs of repeatable, comma-separated options (``--rules A,B --rules C``)."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]
