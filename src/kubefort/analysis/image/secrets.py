"""Credentials in the files of an image's layers, with the manifest scan's detectors
(:mod:`kubefort.analysis.secretscan`): private keys, cloud credentials, tokens, and literal values
assigned to sensitive keys in configuration files. Only which detector fired and where (file, line,
layer) is kept: never the value.

Every layer is scanned, not only the merged tree: a key that a later layer deletes still ships in
the image (``removed`` says so). Files of the distribution's packages, language package trees
(site-packages, node_modules, Go module caches) and system directories are skipped: they hold test
keys and documentation, not the application's secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO

from .. import secretscan

MAX_SCANNED_BYTES = 1024 * 1024  # one file; larger files are not configuration

_SKIP_PREFIXES = (
    "usr/share/",
    "usr/include/",
    "usr/lib/",
    "usr/lib32/",
    "usr/lib64/",
    "usr/libexec/",
    "usr/src/",
    "lib/",
    "lib32/",
    "lib64/",
    "var/lib/dpkg/",
    "var/lib/apt/",
    "var/lib/rpm/",
    "var/cache/",
    "var/log/",
    "lib/apk/",
    "proc/",
    "sys/",
    "dev/",
    "boot/",
    "etc/ssl/certs/",
    "etc/ca-certificates/",
    "etc/pki/ca-trust/",
    "usr/local/lib/python",
    "usr/local/go/",
)
_SKIP_PARTS = frozenset({"site-packages", "dist-packages", "node_modules", "__pycache__", ".git", "vendor"})
_SKIP_EXT = re.compile(
    r"\.(?:so(?:\.\d+)*|a|o|pyc|pyo|class|jar|war|whl|egg|zip|gz|tgz|bz2|xz|zst|7z|png|jpe?g|gif|ico|svg|webp|"
    r"woff2?|ttf|otf|eot|mo|pdf|mp[34]|wasm|db|sqlite|bin|exe|dll)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerSecret:
    """A file holding a credential: where, and which detectors fired (never the value)."""

    path: str
    layer: int
    line: int | None
    detectors: tuple[str, ...]
    removed: bool = False  # a later layer deleted or replaced the file: still in the image

    def to_raw(self) -> dict[str, object]:
        return {
            "path": self.path,
            "layer": self.layer,
            "line": self.line,
            "detectors": list(self.detectors),
            "removed": self.removed,
        }


def candidate(path: str, size: int) -> bool:
    """Whether a file is worth scanning (small, not a system or package file by its place or kind)."""
    if size <= 0 or size > MAX_SCANNED_BYTES or path.startswith(_SKIP_PREFIXES) or _SKIP_EXT.search(path):
        return False
    return not (_SKIP_PARTS & set(path.split("/")[:-1]))


def assignments_apply(path: str) -> bool:
    """Literal values assigned to sensitive keys count in the application's files, not in the
    system's own configuration under /etc (``passwd: files`` in nsswitch.conf is no password)."""
    return not path.startswith("etc/")


def scan_file(reader: IO[bytes], size: int, path: str) -> tuple[int | None, tuple[str, ...]] | None:
    """(line, detectors) of the first credential of a text file; None when it holds none (or is binary).
    The credential patterns everywhere; sensitive assignments where :func:`assignments_apply`."""
    data = reader.read(min(size, MAX_SCANNED_BYTES))
    if b"\0" in data[:8192]:
        return None
    text = data.decode("utf-8", "replace")
    assignments = assignments_apply(path)
    reasons = secretscan.content_reasons(text) if assignments else list(secretscan.credential_labels(text))
    if not reasons:
        return None
    detectors = tuple(dict.fromkeys(reasons))
    line_no = None
    for i, line in enumerate(text.splitlines(), start=1):
        if secretscan.credential_labels(line) or (assignments and secretscan.find_assignments(line)):
            line_no = i
            break
    return line_no, detectors
