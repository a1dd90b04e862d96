"""Reading Dockerfiles (and Containerfiles) into ``Dockerfile`` objects (:mod:`kubefort.model.dockerfile`).

The parser follows BuildKit's frontend: parser directives (``# escape=``) at the top, comment lines,
line continuations with the escape character (comment and empty lines inside a continuation are
dropped), ``<<EOF`` here-documents, ``--flag=value`` options, the JSON (exec) form, stages started
by ``FROM``. It never fails on odd input: what it cannot read stays as text for the rules."""

from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any

from ..errors import LoadError
from ..model.dockerfile import API_VERSION, KIND, dockerfile_object
from ..model.objects import K8sObject

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(?:\s+(.*))?$", re.S)
_FLAG = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(.*))?$")
_JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "SHELL", "VOLUME", "HEALTHCHECK"})
MAX_BYTES = 4 * 1024 * 1024


def is_dockerfile_name(name: str) -> bool:
    """``Dockerfile``, ``Dockerfile.prod``, ``app.Dockerfile``, ``Containerfile`` (any case of the prefix)."""
    base = os.path.basename(name)
    low = base.lower()
    return (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile."))
        or low.endswith((".dockerfile", ".containerfile"))
    ) and not low.endswith((".dockerignore", ".md", ".yaml", ".yml", ".json", ".sh"))


def _split_words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:  # unbalanced quotes: words as written
        return text.split()


def parse_dockerfile(text: str) -> dict[str, Any]:
    """The ``spec`` of a Dockerfile object."""
    lines = text.split("\n")
    escape = "\\"
    i = 0
    # parser directives: only at the very top, before any comment, blank line or instruction
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i])
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            escape = m.group(2)
        i += 1
    instructions: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    global_args: dict[str, str] = {}
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        parts: list[str] = []
        while True:
            line = lines[i].rstrip()
            if line.endswith(escape) and i + 1 < len(lines):
                parts.append(line[: -len(escape)])
                i += 1
                while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                    i += 1  # comments and empty lines inside a continuation are dropped
                if i >= len(lines):
                    break
                continue
            parts.append(line)
            break
        joined = " ".join(p.strip() for p in parts if p.strip())
        end = i
        i += 1
        m = _INSTRUCTION.match(joined)
        if not m:
            continue
        name = m.group(1).upper()
        value = (m.group(2) or "").strip()
        heredocs: list[str] = []
        for hm in _HEREDOC.finditer(value) if name in ("RUN", "COPY", "ADD") else ():
            body: list[str] = []
            delim = hm.group(3)
            while i < len(lines):
                candidate = lines[i].lstrip("\t") if hm.group(1) == "-" else lines[i]
                i += 1
                if candidate.rstrip() == delim:
                    break
                body.append(lines[i - 1])
            end = i - 1
            heredocs.append("\n".join(body))
        flags: dict[str, str] = {}
        rest = value
        while True:
            fm = re.match(r"^(--[^\s]+)\s*(.*)$", rest, re.S)
            if not fm or not _FLAG.match(fm.group(1)):
                break
            f = _FLAG.match(fm.group(1))
            assert f is not None
            flags[f.group(1)] = f.group(2) or ""
            rest = fm.group(2)
        is_json = False
        args: list[str]
        if name in _JSON_FORMS and rest.startswith("["):
            try:
                parsed = json.loads(rest)
                if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                    args, is_json = parsed, True
                else:
                    args = _split_words(rest)
            except ValueError:
                args = _split_words(rest)
        elif name in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK", "SHELL"):
            args = [rest] if rest else []  # a shell command line: one string
        else:
            args = _split_words(rest)
        if name == "FROM":
            image = args[0] if args else ""
            alias = args[2] if len(args) >= 3 and args[1].upper() == "AS" else ""
            stages.append({"name": alias, "image": image, "instruction": len(instructions), "line": start + 1})
        elif name == "ARG" and not stages:
            for a in args:
                k, sep, v = a.partition("=")
                global_args[k] = v if sep else global_args.get(k, "")
        entry: dict[str, Any] = {
            "instruction": name,
            "value": value,
            "flags": flags,
            "args": args,
            "json": is_json,
            "line": start + 1,
            "endLine": end + 1,
            "stage": len(stages) - 1,
        }
        if heredocs:
            entry["heredocs"] = heredocs
        instructions.append(entry)
    return {"instructions": instructions, "stages": stages, "args": global_args}


def dockerfile_from_text(text: str, file: str) -> K8sObject:
    raw = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": file},
        "spec": parse_dockerfile(text),
    }
    return dockerfile_object(raw, file, text)


def load_dockerfile(path: str) -> K8sObject:
    """The Dockerfile at ``path`` as an object; LoadError when it cannot be read."""
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise LoadError(path, f"Dockerfile is {size} bytes, larger than the {MAX_BYTES}-byte limit; skipped")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        raise LoadError(path, e.strerror or str(e)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(path, f"not UTF-8 text (byte {e.start})") from None
    return dockerfile_from_text(text, path)
