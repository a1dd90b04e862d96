"""Builds kubefort's container image without a Docker engine: ``dist/kubefort-image.tar`` (an OCI
archive). Run through ``make image`` (scripts/build-image.sh); docs/image-build.md explains each step.

- layer 1, the base: a Debian root filesystem from Debian's own packages (``mmdebstrap --variant=essential``
  plus ``python3-minimal`` and ``libpython3.11-stdlib``: no apt, no compilers), documentation but the
  copyright files left out, caches and logs removed, the user 65532 added, the standard library
  compiled to bytecode. Its file times are a fixed date (``BASE_EPOCH``), so the layer is the same for
  every kubefort commit built on the same Debian packages;
- layer 2, the application: kubefort's wheel (built from the working tree) and its dependencies pinned
  in ``image/requirements.lock``, installed with ``pip --target`` into Debian's ``dist-packages``,
  compiled to bytecode, and ``/usr/local/bin/kubefort``. Its file times are the commit's time.

Reproducible: both layer tars are written here in sorted order with fixed times, owners as numbers
and no names, bytecode in ``unchecked-hash`` mode (no source mtimes in it), no pip metadata naming a
build path. umoci compresses the layers and writes the config (``--created`` and every history date
fixed); skopeo writes the archive. Two builds of one commit give one image digest
(``tests/image/test_own_image.py``; ``make image-repro`` for the full check with no cache).

Cached under ``.cache/image-build/``: the mmdebstrap tarball and the base layer (keyed by the
mmdebstrap command), the downloaded wheels (keyed by the lock file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "image-build"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
#: file times of the base layer and mmdebstrap's SOURCE_DATE_EPOCH (2026-01-01T00:00:00Z): a constant,
#: so the base layer does not change with each kubefort commit
BASE_EPOCH = 1767225600
PYTHON = "python3.11"
SITE = f"usr/local/lib/{PYTHON}/dist-packages"
UID = 65532
PORT = 8443
SOURCE_URL = "https://github.com/kubefort/kubefort"
LICENSES = "Apache-2.0"
MMDEBSTRAP = [
    "mmdebstrap",
    "--quiet",
    "--variant=essential",
    "--include=python3-minimal,libpython3.11-stdlib",
    # a merged /usr made by mmdebstrap's hook: Debian's usrmerge package would pull in perl (20 MiB)
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "locale", "info", "lintian", "bash-completion")),
    SUITE,
]
#: removed from the Debian tree: caches, logs, dpkg backups, files that differ between runs
BASE_REMOVE = (
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/cache/ldconfig/aux-cache",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/available",
    "var/cache/apt",
    "var/lib/apt",
    "etc/machine-id",
    "etc/hostname",
    "etc/resolv.conf",
)
#: Python code of the base: the standard library, Debian's py3compile helpers (compiled by their postinst)
BASE_PYTHON_DIRS = (f"usr/lib/{PYTHON}", "usr/share/python3")
#: emptied, kept as directories
BASE_EMPTY = ("var/log",)
PASSWD = f"kubefort:x:{UID}:{UID}:kubefort:/nonexistent:/usr/sbin/nologin\n"
GROUP = f"kubefort:x:{UID}:\n"
LAUNCHER = """#!/usr/bin/python3 -I
# kubefort's entry point in its image (-I: no PYTHON* variables, no user site, no current directory)
import sys

from kubefort.cli import main

sys.exit(main())
"""


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload,no-any-return]


def git(*args: str) -> str:
    return run(["git", "-C", str(ROOT), *args], capture_output=True).stdout.decode().strip()


def digest_of(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big") + p)
    return h.hexdigest()[:16]


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def log(msg: str) -> None:
    print(f"build-image: {msg}", file=sys.stderr, flush=True)


# --- base layer ---------------------------------------------------------------------------------


def rootfs_key() -> str:
    return digest_of(json.dumps([MMDEBSTRAP, MIRROR, BASE_EPOCH]).encode())


def base_key() -> str:
    return digest_of(
        json.dumps([rootfs_key(), BASE_REMOVE, BASE_EMPTY, BASE_PYTHON_DIRS, PASSWD, GROUP]).encode(), _recipe()
    )


def _recipe() -> bytes:
    """The parts of this file that shape the base layer (a change to them rebuilds it)."""
    src = Path(__file__).read_text()
    start, end = src.index("# --- base layer"), src.index("# --- application layer")
    return src[start:end].encode()


def rootfs_tarball() -> Path:
    out = CACHE / f"rootfs-{rootfs_key()}.tar"
    if not out.exists():
        log(f"mmdebstrap {SUITE} (about a minute; cached as {out.name})")
        tmp = out.with_suffix(".tmp.tar")  # mmdebstrap picks its output format by the name's ending
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(BASE_EPOCH)}
        run([*MMDEBSTRAP, str(tmp), MIRROR], env=env, stdout=subprocess.DEVNULL)
        tmp.rename(out)
        for old in CACHE.glob("rootfs-*.tar"):  # trees of earlier mmdebstrap commands
            if old != out:
                old.unlink()
    return out


def _extract(tarball: Path, dest: Path) -> None:
    """Unpacks as root (owners and modes kept); device nodes are left out: the runtime mounts /dev."""
    with tarfile.open(tarball) as tf:
        members = [m for m in tf.getmembers() if not (m.ischr() or m.isblk() or m.isfifo())]
        tf.extractall(dest, members=members, filter="fully_trusted")


def _remove(root: Path, rel: str) -> None:
    p = root / rel
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def _drop_pycache(top: Path) -> None:
    for d in sorted(top.rglob("__pycache__"), reverse=True):
        shutil.rmtree(d)


def compile_bytecode(root: Path, *dirs: str) -> None:
    """Bytecode made by the image's own Python, in the chroot (paths in it are the image's), in
    unchecked-hash mode: no source mtime or size in it, and Python never rewrites it (the root
    filesystem is read-only at run time)."""
    run(
        [
            "chroot",
            str(root),
            "/usr/bin/env",
            "-i",
            "PATH=/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",  # else compileall's own imports leave timestamp bytecode behind
            "/usr/bin/python3",
            "-I",
            "-m",
            "compileall",
            "-f",
            "-q",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            *(f"/{d}" for d in dirs),
        ]
    )


def sourceless(root: Path, site: Path, dist: str, package: str) -> None:
    """``package`` as bytecode beside where its sources were (``x.pyc`` for ``x.py``: Python imports a
    sourceless module from there), unchecked-hash like the rest, the sources removed and the wheel's
    RECORD saying so. Tracebacks through it show no source lines; the image is 30 MiB smaller."""
    run(
        [
            "chroot",
            str(root),
            "/usr/bin/env",
            "-i",
            "PATH=/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE=1",
            "/usr/bin/python3",
            "-I",
            "-m",
            "compileall",
            "-b",
            "-f",
            "-q",
            "-q",
            "--invalidation-mode",
            "unchecked-hash",
            f"/{SITE}/{package}",
        ]
    )
    for py in sorted((site / package).rglob("*.py")):
        py.unlink()
    (record,) = site.glob(f"{dist}-[0-9]*.dist-info/RECORD")
    out = []
    for line in record.read_text().splitlines(keepends=True):
        path = line.rsplit(",", 2)[0]
        if path.startswith(f"{package}/") and path.endswith(".py"):
            line = f"{path}c,,\n"
        out.append(line)
    record.write_text("".join(out))


def base_layer(work: Path) -> Path:
    key = base_key()
    out = CACHE / f"base-{key}.tar"
    if out.exists():
        return out
    tarball = rootfs_tarball()
    root = work / "base"
    root.mkdir()
    _extract(tarball, root)
    for rel in BASE_REMOVE + BASE_EMPTY:
        _remove(root, rel)
    for rel in BASE_EMPTY:
        (root / rel).mkdir(mode=0o755)
    for d in ("tmp", "var/tmp"):
        (root / d).chmod(0o1777)
    for rel, line in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        with open(root / rel, "a") as fh:
            fh.write(line)
    for d in BASE_PYTHON_DIRS:
        _drop_pycache(root / d)
    compile_bytecode(root, *BASE_PYTHON_DIRS)
    tmp = out.with_suffix(".tmp")
    write_layer(root, tmp, BASE_EPOCH)
    tmp.rename(out)
    shutil.rmtree(root)
    for old in CACHE.glob("base-*.tar"):  # layers of earlier recipes
        if old != out:
            old.unlink()
    return out


# --- application layer --------------------------------------------------------------------------


def wheels(lock: Path) -> Path:
    """The pinned dependencies' wheels (binary only: nothing is compiled), downloaded once per lock."""
    out = CACHE / f"wheels-{digest_of(lock.read_bytes(), sys.version.split()[0].encode())}"
    if not out.exists():
        log(f"downloading the wheels of {lock.relative_to(ROOT)} (cached as {out.name})")
        tmp = Path(tempfile.mkdtemp(prefix="wheels-", dir=CACHE))
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(tmp),
                "-r",
                str(lock),
            ]
        )
        tmp.rename(out)
        for old in CACHE.glob("wheels-*"):  # wheels of earlier locks
            if old != out:
                shutil.rmtree(old)
    return out


def kubefort_wheel(work: Path, epoch: int) -> Path:
    """kubefort's wheel, built from a copy of the working tree (setuptools writes egg-info beside the
    sources); build requirements pinned by image/build-constraints.txt."""
    src = work / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".mypy_cache")
    )
    dist = work / "wheel"
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--build-constraint",
            str(ROOT / "image" / "build-constraints.txt"),
            "-w",
            str(dist),
            str(src),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return next(dist.glob("kubefort-*.whl"))


def _drop_from_wheel(site: Path, dist: str, subdir: str) -> None:
    """Removes a directory an installed wheel holds, and its lines from the wheel's RECORD."""
    shutil.rmtree(site / subdir)
    (record,) = site.glob(f"{dist}-[0-9]*.dist-info/RECORD")
    lines = record.read_text().splitlines(keepends=True)
    record.write_text("".join(line for line in lines if not line.startswith(f"{subdir}/")))


def app_layer(work: Path, base: Path, epoch: int) -> Path:
    """Installs into the base tree (so bytecode is compiled by the image's Python), then packs only
    what the install added."""
    root = work / "app"
    root.mkdir()
    with tarfile.open(base) as tf:
        tf.extractall(root, filter="fully_trusted")
    before = set(_walk(root))
    site = root / SITE
    whl = kubefort_wheel(work, epoch)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--no-index",
            "--target",
            str(site),
            *map(str, sorted(wheels(ROOT / "image" / "requirements.lock").glob("*.whl"))),
            str(whl),
        ]
    )
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts with the build host's shebang
    for p in site.glob("*.dist-info/direct_url.json"):  # names the build directory: gone, and from RECORD
        p.unlink()
        record = p.parent / "RECORD"
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith(f"{p.parent.name}/direct_url.json,")))
    # kubernetes' asyncio client: kubefort uses the synchronous one, and its aiohttp requirements are
    # left out of image/requirements.lock (scripts/image-lock.py)
    _drop_from_wheel(site, "kubernetes", "kubernetes/aio")
    for name in ("tests", "test"):  # test suites some wheels install at the top level
        shutil.rmtree(site / name, ignore_errors=True)
    # and inside their packages (websocket/tests, certifi/tests): never imported at run time
    for tests in sorted(p for pattern in ("*/tests", "*/test") for p in site.glob(pattern) if p.is_dir()):
        rel = tests.relative_to(site).as_posix()
        owners = [r for r in site.glob("*.dist-info/RECORD") if f"\n{rel}/" in "\n" + r.read_text()]
        if len(owners) == 1:
            _drop_from_wheel(site, owners[0].parent.name.split("-")[0], rel)
    _drop_pycache(site)
    launcher = root / "usr/local/bin/kubefort"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    # the Kubernetes client's generated API and models (a third of the image: their docstrings are the
    # API reference) ship as bytecode alone: kubefort imports them, nobody reads their source in here
    sourceless(root, site, "kubernetes", "kubernetes")
    compile_bytecode(root, SITE)
    added = sorted(p for p in _walk(root) if p not in before)
    out = work / "app.tar"
    write_layer(root, out, epoch, only=added)
    return out


# --- packing ------------------------------------------------------------------------------------


def _walk(root: Path) -> list[str]:
    """Every path under root, relative, sorted by name (parents before children)."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            out.append(rel)
        out.extend(os.path.normpath(os.path.join(rel, f)) for f in filenames)
        # symbolic links to directories (the merged /usr's /bin, /lib...) are listed in dirnames and
        # not walked into: entries of their own
        out.extend(os.path.normpath(os.path.join(rel, d)) for d in dirnames if os.path.islink(os.path.join(dirpath, d)))
    return sorted(out)


def write_layer(root: Path, out: Path, epoch: int, only: list[str] | None = None) -> None:
    """A layer tar that depends only on the tree's content: sorted entries, every time ``epoch``,
    numeric owners without names, PAX headers without access or change times."""
    paths = only if only is not None else _walk(root)
    seen: dict[tuple[int, int], str] = {}
    with open(out, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for rel in paths:
            full = root / rel
            st = full.lstat()
            info = tf.gettarinfo(str(full), arcname=rel)
            if stat.S_ISSOCK(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                continue
            if info.isreg() and st.st_nlink > 1:
                ino = (st.st_dev, st.st_ino)
                if ino in seen:  # a hard link to the first name of the file in this layer
                    info.type = tarfile.LNKTYPE
                    info.linkname = seen[ino]
                    info.size = 0
                else:
                    seen[ino] = rel
            info.mtime = epoch
            info.uname = info.gname = ""
            info.pax_headers = {}
            if info.isreg():
                with open(full, "rb") as data:
                    tf.addfile(info, data)
            else:
                tf.addfile(info)


def normalise_archive(src: Path, out: Path, epoch: int) -> None:
    """skopeo's archive holds the same files each time but stamps them with the time of the copy:
    rewritten sorted, with fixed times and owners, so the archive file itself is reproducible too."""
    with tarfile.open(src) as tin:
        members = sorted((m for m in tin.getmembers()), key=lambda m: m.name)
        with open(out, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.GNU_FORMAT) as tout:
            for m in members:
                m.mtime, m.uid, m.gid, m.uname, m.gname, m.pax_headers = epoch, 0, 0, "", "", {}
                tout.addfile(m, tin.extractfile(m) if m.isreg() else None)


def pack(base: Path, app: Path, epoch: int, version: str, revision: str, out: Path, work: Path) -> str:
    layout = work / "layout"
    tag = version
    image = f"{layout}:{tag}"
    created = rfc3339(epoch)
    run(["umoci", "init", "--layout", str(layout)])
    run(["umoci", "new", "--image", image])
    run(
        [
            "umoci",
            "raw",
            "add-layer",
            "--image",
            image,
            "--history.created",
            rfc3339(BASE_EPOCH),
            "--history.created_by",
            " ".join([*MMDEBSTRAP, "# then scripts/build_image.py: caches removed, user 65532, stdlib bytecode"]),
            str(base),
        ]
    )
    run(
        [
            "umoci",
            "raw",
            "add-layer",
            "--image",
            image,
            "--history.created",
            created,
            "--history.created_by",
            f"pip install --no-deps --target /{SITE} kubefort-{version} -r image/requirements.lock",
            str(app),
        ]
    )
    labels = {
        "org.opencontainers.image.title": "kubefort",
        "org.opencontainers.image.description": "Kubernetes security toolkit: scanner and admission webhook",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.licenses": LICENSES,
        "org.opencontainers.image.created": created,
    }
    run(
        [
            "umoci",
            "config",
            "--image",
            image,
            "--created",
            created,
            "--author",
            "kubefort",
            "--config.user",
            f"{UID}:{UID}",
            "--config.entrypoint",
            "/usr/local/bin/kubefort",
            "--config.cmd",
            "--help",
            "--config.workingdir",
            "/tmp",
            "--config.env",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "--config.env",
            "PYTHONDONTWRITEBYTECODE=1",
            "--config.exposedports",
            f"{PORT}/tcp",
            *(a for k, v in labels.items() for a in ("--config.label", f"{k}={v}")),
            "--history.created",
            created,
            "--history.created_by",
            f"umoci config: user {UID}, entrypoint kubefort, port {PORT}/tcp, OCI labels",
        ]
    )
    run(["umoci", "gc", "--layout", str(layout)])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    run(["skopeo", "copy", "--quiet", f"oci:{image}", f"oci-archive:{tmp}:{tag}"])
    normalise_archive(tmp, out, epoch)
    tmp.unlink()
    index = json.loads((layout / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--output", default=str(ROOT / "dist" / "kubefort-image.tar"))
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        log("needs root (the image's own Python compiles its bytecode in a chroot)")
        return 2
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or git("log", "-1", "--format=%ct"))
    revision = git("rev-parse", "HEAD")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE))
    try:
        base = base_layer(work)
        app = app_layer(work, base, epoch)
        digest = pack(base, app, epoch, version, revision, Path(args.output), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(digest)
    log(f"wrote {args.output}: kubefort {version} ({revision[:12]}), image digest {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
