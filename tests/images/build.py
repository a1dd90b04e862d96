"""Real test images, built without a Docker engine and cached under ``.cache/images/<recipe key>/``.

The recipe (``RECIPE``; its key is a hash of this file, so changing the recipe rebuilds):

- layer 0: a Debian 12 root filesystem from Debian's own packages (``mmdebstrap --variant=minbase``,
  documentation left out), with its real dpkg database;
- layer 1: ``apt-get install curl python3-yaml`` run in that tree (chroot): a second dpkg status, and a
  Python package owned by dpkg (Trivy and kubefort both leave it to the OS inventory);
- layer 2: pinned, old PyPI wheels (``pip install --target``), npm packages (``npm pack``: lodash,
  minimist, and esbuild's Go binary with its embedded build info), a Maven jar (Debian's commons-lang3
  jar, copied outside dpkg's files), an application ``.env`` holding an AWS key and a private key,
  and a GitHub token in a file;
- layer 3: the token file deleted again (a whiteout: the token still ships in layer 2);
- config (umoci): root user, a token in ``ENV``, port 22 exposed, no healthcheck, a history entry that
  ``ADD``s from a URL.

Packed by umoci into an OCI layout, then by skopeo into a docker-archive and an OCI archive. Run
``python tests/images/build.py`` to build by hand; the image tests call :func:`app_image`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "images"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
WHEELS = ("requests==2.25.0", "urllib3==1.26.4", "Jinja2==2.11.2", "idna==2.10", "certifi==2020.12.5", "chardet==3.0.4")
NPM = ("lodash@4.17.20", "minimist@1.2.5", "@esbuild/linux-x64@0.19.2")
TAG = "kubefort-test/app:1"
#: secrets planted in the image: generated test values, in well-known credential formats
AWS_KEY_ID = "AKIA" + "QX7M2VZKJ4TN8WRB"
GITHUB_TOKEN = "ghp_" + "T3stT0kenK8bef0rtIm4geScanR0ck5xyzw1"


@dataclass(frozen=True)
class AppImage:
    """The built image in its three forms."""

    key: str
    docker_archive: Path
    oci_layout: Path  # an OCI layout directory; the image is tagged "1"
    oci_archive: Path
    tag: str = TAG


def recipe_key() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def missing_tools() -> list[str]:
    return [t for t in ("mmdebstrap", "umoci", "skopeo", "npm") if shutil.which(t) is None]


def _run(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def _repack(layout: Path, bundle: Path, created_by: str) -> None:
    _run(
        [
            "umoci",
            "repack",
            "--image",
            f"{layout}:1",
            "--history.created_by",
            created_by,
            "--history.created",
            "2026-01-01T00:00:00Z",
            str(bundle),
        ]
    )
    shutil.rmtree(bundle)


def _unpack(layout: Path, bundle: Path) -> Path:
    _run(["umoci", "unpack", "--image", f"{layout}:1", str(bundle)], stdout=subprocess.DEVNULL)
    return bundle / "rootfs"


def _private_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def build(out: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="kubefort-image-", dir=out.parent))
    try:
        base = work / "base.tar"
        _run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale", "info")),
                SUITE,
                str(base),
                MIRROR,
            ]
        )
        layout = work / "layout"
        _run(["umoci", "init", "--layout", str(layout)])
        _run(["umoci", "new", "--image", f"{layout}:1"])
        # layer 0: the Debian root filesystem
        rootfs = _unpack(layout, work / "b0")
        with tarfile.open(base) as tf:
            tf.extractall(rootfs, filter="fully_trusted")
        _repack(layout, work / "b0", f"mmdebstrap --variant=minbase {SUITE}")
        # layer 1: apt-get install in the tree
        rootfs = _unpack(layout, work / "b1")
        shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
        _run(
            [
                "chroot",
                str(rootfs),
                "/usr/bin/env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "DEBIAN_FRONTEND=noninteractive",
                "sh",
                "-c",
                "apt-get update -qq && apt-get install -y -qq --no-install-recommends curl python3-yaml >/dev/null"
                " && apt-get clean && rm -rf /var/lib/apt/lists/*",
            ],
            stderr=subprocess.DEVNULL,
        )
        (rootfs / "etc/resolv.conf").unlink()
        _repack(layout, work / "b1", "RUN apt-get install -y --no-install-recommends curl python3-yaml")
        # layer 2: language packages, the application, its secrets
        rootfs = _unpack(layout, work / "b2")
        wheels = work / "wheels"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheels),
                *WHEELS,
            ],
            stderr=subprocess.DEVNULL,
        )
        site = rootfs / "usr/local/lib/python3.11/dist-packages"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-compile",
                "--target",
                str(site),
                *map(str, sorted(wheels.glob("*.whl"))),
            ],
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(site / "bin", ignore_errors=True)
        npm_dir = work / "npm"
        npm_dir.mkdir()
        _run(["npm", "pack", "--silent", *NPM], cwd=npm_dir, stdout=subprocess.DEVNULL)
        modules = rootfs / "app/node_modules"
        for tgz in sorted(npm_dir.glob("*.tgz")):
            with tarfile.open(tgz) as tf:
                meta = json.load(tf.extractfile("package/package.json"))  # type: ignore[arg-type]
                if meta["name"].startswith("@esbuild/"):
                    member = tf.getmember("package/bin/esbuild")
                    (rootfs / "usr/local/bin").mkdir(parents=True, exist_ok=True)
                    (rootfs / "usr/local/bin/esbuild").write_bytes(tf.extractfile(member).read())  # type: ignore[union-attr]
                    (rootfs / "usr/local/bin/esbuild").chmod(0o755)
                    continue
                dest = modules / meta["name"]
                for m in tf.getmembers():
                    if m.isfile() and m.name.startswith("package/"):
                        target = dest / m.name[len("package/") :]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(tf.extractfile(m).read())  # type: ignore[union-attr]
        debs = work / "debs"
        debs.mkdir()
        _run(["apt-get", "download", "-qq", "libcommons-lang3-java"], cwd=debs, stderr=subprocess.DEVNULL)
        _run(["dpkg-deb", "-x", str(next(debs.glob("*.deb"))), str(debs / "x")])
        (rootfs / "app/lib").mkdir(parents=True)
        shutil.copy(debs / "x/usr/share/java/commons-lang3.jar", rootfs / "app/lib/commons-lang3-3.12.0.jar")
        (rootfs / "app/config").mkdir(parents=True)
        (rootfs / "app/config/signing-key.pem").write_bytes(_private_key_pem())
        (rootfs / "app/.env").write_text(f"APP_ENV=production\nAWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_REGION=eu-west-1\n")
        (rootfs / "app/deploy-token.txt").write_text(f"token for the release bot\n{GITHUB_TOKEN}\n")
        (rootfs / "app/server.js").write_text("const _ = require('lodash');\nconsole.log(_.VERSION);\n")
        _repack(layout, work / "b2", "COPY app /app # and pip/npm installs")
        # layer 3: the token file deleted (a whiteout)
        rootfs = _unpack(layout, work / "b3")
        (rootfs / "app/deploy-token.txt").unlink()
        _repack(layout, work / "b3", "RUN rm /app/deploy-token.txt")
        _run(
            [
                "umoci",
                "config",
                "--image",
                f"{layout}:1",
                "--config.env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--config.env",
                f"RELEASE_TOKEN={GITHUB_TOKEN}",
                "--config.exposedports",
                "22/tcp",
                "--config.exposedports",
                "8080/tcp",
                "--config.workingdir",
                "/app",
                "--config.cmd",
                "node",
                "--config.cmd",
                "server.js",
                "--history.created_by",
                "ADD https://downloads.example.com/tools/healthd.tar.gz /opt/ # buildkit",
                "--history.created",
                "2026-01-01T00:00:00Z",
            ]
        )
        _run(["umoci", "gc", "--layout", str(layout)])
        tmp_out = work / "out"
        tmp_out.mkdir()
        shutil.copytree(layout, tmp_out / "oci")
        _run(["skopeo", "copy", "-q", f"oci:{layout}:1", f"docker-archive:{tmp_out / 'app-docker.tar'}:{TAG}"])
        _run(["skopeo", "copy", "-q", f"oci:{layout}:1", f"oci-archive:{tmp_out / 'app-oci.tar'}:1"])
        if out.exists():
            shutil.rmtree(out)
        tmp_out.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def app_image() -> AppImage:
    """The application test image, built once per recipe (about a minute and a half), then cached."""
    key = recipe_key()
    out = CACHE / key
    if not (out / "app-docker.tar").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        lock = CACHE / f"{key}.lock"
        import fcntl

        with open(lock, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # parallel test processes build it once
            if not (out / "app-docker.tar").exists():
                build(out)
                for old in CACHE.iterdir():  # images of earlier recipes
                    if old.name.startswith(key) or old.name.startswith("kubefort-image-"):
                        continue
                    if old.is_dir():
                        shutil.rmtree(old, ignore_errors=True)
                    else:
                        old.unlink(missing_ok=True)
    return AppImage(
        key=key, docker_archive=out / "app-docker.tar", oci_layout=out / "oci", oci_archive=out / "app-oci.tar"
    )


if __name__ == "__main__":
    img = app_image()
    os.write(1, f"{img.docker_archive}\n{img.oci_layout}\n{img.oci_archive}\n".encode())
