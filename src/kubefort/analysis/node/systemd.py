"""The command line a systemd unit runs (the kubelet's, and components installed "the hard way").

What systemd does, and so what this does (systemd.unit(5), systemd.service(5), systemd.exec(5)):

- The unit file is the first of ``/etc/systemd/system``, ``/run/systemd/system``,
  ``/usr/local/lib/systemd/system``, ``/usr/lib/systemd/system``, ``/lib/systemd/system`` that has it.
  Drop-ins ``<unit>.d/*.conf`` are read from all of them, a file in an earlier directory hiding one of
  the same name in a later one, and applied in file-name order after the unit.
- ``ExecStart=`` with an empty value resets the list; the last command wins. Prefixes ``-@:+!`` are
  not part of the command.
- ``Environment=`` assignments (quoted words), then ``EnvironmentFile=`` files (``-`` prefix: may be
  missing) in order; variables from files override ``Environment=``.
- In the command, ``$VAR`` as a word of its own becomes the value split at whitespace,
  ``${VAR}`` (and a variable inside a word) is substituted as is; an unknown variable is empty.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    file: str  # node path of the file the word came from
    line: int


@dataclass
class UnitCommand:
    unit: str
    argv: list[Word]  # the expanded ExecStart words, binary first
    files: list[str] = field(default_factory=list)  # unit, drop-ins and environment files read
    missing_env_files: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # the service's environment (Environment=, EnvironmentFile=)


def specifiers(value: str, unit: str) -> str:
    """Unit file specifiers (systemd.unit(5)): %n %N %p %i and %%; others are left as they are."""
    name = unit
    base = name.rsplit(".", 1)[0]
    prefix, _, instance = base.partition("@")
    table = {"n": name, "N": base, "p": prefix, "i": instance, "%": "%"}
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%" and i + 1 < len(value) and value[i + 1] in table:
            out.append(table[value[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not buf:
            start = i
            if line.lstrip().startswith(("#", ";")):
                continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        out.append((start, buf))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def parse_unit(text: str) -> list[tuple[str, str, str, int]]:
    """(section, key, value, line) of every assignment."""
    section = ""
    out = []
    for line_no, line in _logical_lines(text):
        s = line.strip()
        if not s:
            continue
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1]
            continue
        if "=" not in s:
            continue
        key, _, value = s.partition("=")
        out.append((section, key.strip(), value.strip(), line_no))
    return out


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value, posix=True)
    except ValueError:
        return value.split()


def parse_env_file(text: str) -> list[tuple[str, str, int]]:
    out = []
    for line_no, line in _logical_lines(text):
        s = line.strip()
        if not s or "=" not in s:
            continue
        key, _, value = s.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out.append((key.strip(), value, line_no))
    return out


def read_unit(name: str, read: Callable[[str], str | None]) -> UnitCommand | None:
    """The command of unit ``name`` (e.g. ``kubelet.service``). ``read(node_path)`` returns a file's
    text, or for a path ending in ``/`` the names in that directory one per line, or None when it does
    not exist. None when there is no such unit."""
    main = None
    for d in UNIT_DIRS:
        text = read(f"{d}/{name}")
        if text is not None:
            main = (f"{d}/{name}", text)
            break
    dropins: dict[str, tuple[str, str]] = {}
    for d in reversed(UNIT_DIRS):  # earlier directories win: read them last
        listing = read(f"{d}/{name}.d/")
        if listing is None:
            continue
        for fname in listing.split("\n"):
            if fname.endswith(".conf"):
                text = read(f"{d}/{name}.d/{fname}")
                if text is not None:
                    dropins[fname] = (f"{d}/{name}.d/{fname}", text)
    if main is None and not dropins:
        return None
    files = ([main] if main else []) + [dropins[k] for k in sorted(dropins)]
    env: dict[str, tuple[str, str, int]] = {}
    env_files: list[tuple[str, bool, str, int]] = []
    exec_start: tuple[str, str, int] | None = None
    for path, text in files:
        for section, key, value, line in parse_unit(text):
            if section != "Service":
                continue
            value = specifiers(value, name)
            if key == "Environment":
                for word in _split(value):
                    k, sep, v = word.partition("=")
                    if sep:
                        env[k] = (v, path, line)
            elif key == "EnvironmentFile":
                if not value:
                    env_files = []
                    continue
                optional = value.startswith("-")
                env_files.append((value.lstrip("-"), optional, path, line))
            elif key == "ExecStart":
                exec_start = None if not value else (value, path, line)
    result = UnitCommand(unit=name, argv=[], files=[p for p, _ in files])
    for env_path, optional, _, _ in env_files:
        text = read(env_path)
        if text is None:
            if not optional:
                result.missing_env_files.append(env_path)
            continue
        result.files.append(env_path)
        for k, v, line in parse_env_file(text):
            env[k] = (v, env_path, line)
    result.env = {k: v[0] for k, v in env.items()}
    if exec_start is None:
        return result if main or dropins else None
    value, path, line = exec_start
    value = value.lstrip("-@:+!")
    for word in _split(value):
        m = _VAR.fullmatch(word)
        if m and m.group(2):  # $VAR alone: split at whitespace
            hit = env.get(m.group(2))
            if hit is not None:
                result.argv.extend(Word(w, hit[1], hit[2]) for w in hit[0].split())
            continue
        if m and m.group(1):  # ${VAR} alone: one word
            hit = env.get(m.group(1))
            if hit is not None:
                result.argv.append(Word(hit[0], hit[1], hit[2]))
            continue
        result.argv.append(Word(_VAR.sub(lambda mm: env.get(mm.group(1) or mm.group(2), ("",))[0], word), path, line))
    return result
