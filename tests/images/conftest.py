"""Fixtures of the image tests: the real application image (built once per recipe, cached), the OSV
fixtures imported into a database, and small hand-built images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import tool

from . import build
from .pack import Entry, Image, layer_tar

HERE = Path(__file__).parent
OSV = HERE / "osv"
VEX = HERE / "vex-lodash.json"
DPKG_STATUS = (HERE / "fixtures" / "dpkg-status").read_bytes()
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'


@pytest.fixture(scope="session")
def app_image() -> build.AppImage:
    missing = build.missing_tools()
    if missing:
        pytest.skip(f"image tools missing: {', '.join(missing)} (make tools / scripts/ensure-image-tools.sh)")
    return build.app_image()


@pytest.fixture(scope="session")
def vulndb(tmp_path_factory: pytest.TempPathFactory) -> str:
    from kubefort.analysis.vulndb.store import VulnDB

    path = str(tmp_path_factory.mktemp("vulndb") / "osv.sqlite")
    with VulnDB(path, create=True) as db:
        stats = db.import_paths([str(OSV)])
    assert stats.advisories == len(list(OSV.glob("*.json")))
    return path


@pytest.fixture(scope="session")
def trivy() -> str:
    exe = tool("trivy")
    if exe is None:
        pytest.skip("trivy not installed (scripts/ensure-image-tools.sh)")
    return exe


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing: {', '.join(missing)} (scripts/ensure-image-tools.sh)")


def small_image(**config: object) -> Image:
    """A two-layer Debian-like image: real dpkg stanzas, a Python and an npm package, a whiteout."""
    base = layer_tar(
        [
            Entry("etc", type="dir", mode=0o755),
            Entry("usr/lib/os-release", OS_RELEASE),
            Entry("etc/os-release", type="symlink", target="../usr/lib/os-release"),
            Entry("etc/debian_version", b"12.15\n"),
            Entry("var/lib/dpkg/status", DPKG_STATUS),
            Entry("tmp/old.txt", b"to be deleted\n"),
        ]
    )
    app = layer_tar(
        [
            Entry(
                "usr/local/lib/python3.11/dist-packages/requests-2.25.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\nLicense: Apache 2.0\n\nbody\n",
            ),
            Entry(
                "app/node_modules/lodash/package.json", b'{"name": "lodash", "version": "4.17.20", "license": "MIT"}'
            ),
            Entry("app/node_modules/lodash/fp/package.json", b'{"main": "../fp.js"}'),
            Entry("tmp/.wh.old.txt"),
        ]
    )
    return Image(layers=[base, app], config=dict(config))
