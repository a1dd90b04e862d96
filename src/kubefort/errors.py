"""Exceptions raised by kubefort.

The tree::

    KubefortError            base class; ``diagnostics()`` gives the one-line message for users
    ├── UsageError           bad option value, unknown rule ID (CLI exit code 2)
    ├── ConfigError          invalid .kubefort.yaml (exit code 2)
    ├── LoadError            a file or document that cannot be read or parsed (exit code 2 at the end)
    ├── RenderError          helm / kustomize missing or failing (exit code 2)
    └── RuleError            a rule crashed on one object (reported as an ``error`` result, exit code 3)
"""

from __future__ import annotations


class KubefortError(Exception):
    """Base class of every error kubefort raises on purpose."""

    def diagnostics(self) -> str:
        return str(self)


class UsageError(KubefortError):
    """The user asked for something that does not exist (unknown rule, bad option value)."""


class ConfigError(KubefortError):
    """The configuration file is invalid."""

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file

    def diagnostics(self) -> str:
        return f"{self.file}: {self}" if self.file else str(self)


class LoadError(KubefortError):
    """A file (or one document of it) could not be loaded."""

    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.line = line

    def diagnostics(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self}"


class RenderError(KubefortError):
    """Helm or Kustomize could not render the input."""


class RuleError(KubefortError):
    """A rule raised an exception while evaluating one object."""
