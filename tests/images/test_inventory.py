"""Package databases and metadata, one format at a time: dpkg status and distroless status.d, the apk
installed database, an rpm sqlite database made by rpm itself, Python and npm metadata, Go build
information, Java archives."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from kubefort.analysis.image import langpkg, ospkg
from kubefort.analysis.image.packages import with_purl

from .conftest import DPKG_STATUS

#: two stanzas in the format of Alpine's /lib/apk/db/installed (fields as apk-tools writes them)
APK_INSTALLED = """C:Q1u3Xj8mTjR6dQ6ICbKUmNyFQ5cZE=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:667648
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1700000000
c:1f1fd4bd2f9b3e1a3e6b1b3a9a6f5d7f3a0b3c1d
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1qGj3Q9m2W0t0fJm1xV2y0A3d9n8Y=
R:libc.musl-x86_64.so.1

C:Q1ZF2yG3kD1rj3n9N7oQ1r0o9m0E2rY=
P:libcrypto3
V:3.1.4-r2
A:x86_64
T:Crypto library from openssl
L:Apache-2.0
o:openssl
F:lib
R:libcrypto.so.3
F:usr/lib/ossl-modules
R:legacy.so
"""


def test_dpkg_status_and_status_d() -> None:
    pkgs = ospkg.dpkg_packages(DPKG_STATUS.decode(), "var/lib/dpkg/status")
    by = {p.name: p for p in pkgs}
    assert (by["libc6"].source_name, by["libc6"].source_version) == ("glibc", by["libc6"].version)
    assert by["zlib1g"].version.startswith("1:")
    text = "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: half\nStatus: install ok half-installed\nVersion: 1.0\n"
    assert ospkg.dpkg_packages(text, "s") == []
    # distroless: one stanza per file, no Status field
    distroless = "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n"
    (p,) = ospkg.dpkg_packages(distroless, "var/lib/dpkg/status.d/libssl3", require_status=False)
    assert (p.name, p.source_name) == ("libssl3", "openssl")
    bash = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b8\nSource: bash (5.2.15-2)\n"
    (b,) = ospkg.dpkg_packages(bash, "s")
    assert (b.version, b.source_version) == ("5.2.15-2+b8", "5.2.15-2")  # a binNMU: the source is older


def test_apk_installed() -> None:
    pkgs, owned = ospkg.apk_packages(APK_INSTALLED, "lib/apk/db/installed")
    assert [(p.name, p.version, p.source_name) for p in pkgs] == [
        ("musl", "1.2.4_git20230717-r4", "musl"),
        ("libcrypto3", "3.1.4-r2", "openssl"),
    ]
    assert owned == {
        "lib/ld-musl-x86_64.so.1",
        "lib/libc.musl-x86_64.so.1",
        "lib/libcrypto.so.3",
        "usr/lib/ossl-modules/legacy.so",
    }
    info = ospkg.os_info("ID=alpine\nVERSION_ID=3.19.0\n", None, "3.19.1\n")
    assert (
        with_purl(pkgs[1], info.distro, info.id).purl
        == "pkg:apk/alpine/libcrypto3@3.1.4-r2?arch=x86_64&distro=alpine-3.19.1"
    )


SPEC = """Name: kubefort-test
Version: 1.2.3
Release: 4.el9
Epoch: 2
Summary: test package
License: MIT
BuildArch: noarch
%description
A package made by the kubefort tests.
%install
mkdir -p %{buildroot}/usr/share/kubefort-test
echo hello > %{buildroot}/usr/share/kubefort-test/hello.txt
%files
/usr/share/kubefort-test/hello.txt
"""


def test_rpm_sqlite_made_by_rpm(tmp_path: Path) -> None:
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.skip("rpm and rpmbuild missing (scripts/ensure-image-tools.sh)")
    (tmp_path / "SPECS").mkdir()
    (tmp_path / "SPECS" / "t.spec").write_text(SPEC)
    subprocess.run(
        [
            "rpmbuild",
            "-bb",
            "--define",
            f"_topdir {tmp_path}",
            "--define",
            "_dbpath_rebuild %{_dbpath}",
            str(tmp_path / "SPECS/t.spec"),
        ],
        check=True,
        capture_output=True,
    )
    rpm_file = next((tmp_path / "RPMS").rglob("*.rpm"))
    db = tmp_path / "db"
    subprocess.run(
        ["rpm", "--dbpath", str(db), "--initdb", "--define", "_db_backend sqlite"], check=True, capture_output=True
    )
    subprocess.run(
        [
            "rpm",
            "--dbpath",
            str(db),
            "--define",
            "_db_backend sqlite",
            "-i",
            "--justdb",
            "--nodeps",
            "--ignorearch",
            "--ignoreos",
            str(rpm_file),
        ],
        check=True,
        capture_output=True,
    )
    pkgs, owned = ospkg.rpm_packages((db / "rpmdb.sqlite").read_bytes(), "var/lib/rpm/rpmdb.sqlite")
    (p,) = pkgs
    assert (p.name, p.version, p.arch, p.source_name, p.licenses) == (
        "kubefort-test",
        "2:1.2.3-4.el9",
        "noarch",
        "kubefort-test",
        ("MIT",),
    )
    assert "usr/share/kubefort-test/hello.txt" in owned
    assert (
        with_purl(p, "rocky-9.3", "rocky").purl
        == "pkg:rpm/rocky/kubefort-test@1.2.3-4.el9?arch=noarch&distro=rocky-9.3&epoch=2"
    )


def test_python_and_npm_metadata() -> None:
    p = langpkg.python_package(
        "Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\nLicense: MIT\n\nName: not this\n", "x/METADATA"
    )
    assert p is not None and (p.name, p.version, p.licenses) == ("PyYAML", "6.0.1", ("MIT",))
    assert with_purl(p).purl == "pkg:pypi/pyyaml@6.0.1"
    assert langpkg.python_package("Name: x\n", "x") is None
    n = langpkg.npm_package(b'{"name": "@babel/core", "version": "7.24.0", "license": {"type": "MIT"}}', "p")
    assert n is not None and with_purl(n).purl == "pkg:npm/%40babel/core@7.24.0" and n.licenses == ("MIT",)
    assert langpkg.npm_package(b'{"name": "x"}', "p") is None and langpkg.npm_package(b"not json", "p") is None
    assert langpkg.NPM_MANIFEST.search("app/node_modules/@babel/core/package.json")
    assert not langpkg.NPM_MANIFEST.search("app/node_modules/lodash/fp/package.json")


def test_go_modinfo() -> None:
    info = langpkg.parse_modinfo(
        "go1.21.5",
        "path\texample.com/cmd/app\nmod\texample.com\tv1.4.0\th1:x=\ndep\tgolang.org/x/net\tv0.15.0\th1:y=\n"
        "dep\tgithub.com/old/lib\tv1.0.0\n=>\tgithub.com/fork/lib\tv1.0.1\th1:z=\nbuild\t-compiler=gc\n",
    )
    pkgs = {(p.name, p.version) for p in langpkg.go_packages(info, "usr/bin/app")}
    assert pkgs == {
        ("example.com", "v1.4.0"),
        ("golang.org/x/net", "v0.15.0"),
        ("github.com/fork/lib", "v1.0.1"),
        ("stdlib", "v1.21.5"),
    }
    assert langpkg.go_buildinfo(b"\x7fELF" + b"\0" * 100) is None


def _jar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_java_archives() -> None:
    inner = _jar(
        {
            "META-INF/maven/org.slf4j/slf4j-api/pom.properties": b"groupId=org.slf4j\nartifactId=slf4j-api\nversion=2.0.9\n"
        }
    )
    war = _jar(
        {
            "META-INF/maven/com.example/shop/pom.properties": b"#generated\ngroupId=com.example\nartifactId=shop\nversion=1.0.0\n",
            "WEB-INF/lib/slf4j-api-2.0.9.jar": inner,
        }
    )
    got = {(p.name, p.version, p.path) for p in langpkg.java_packages(war, "app/shop.war")}
    assert got == {
        ("com.example:shop", "1.0.0", "app/shop.war"),
        ("org.slf4j:slf4j-api", "2.0.9", "app/shop.war/WEB-INF/lib/slf4j-api-2.0.9.jar"),
    }
    manifest_only = _jar(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nBundle-SymbolicName: org.example.util\nBundle-Version: 3.2.1\n"
        }
    )
    assert [(p.name, p.version) for p in langpkg.java_packages(manifest_only, "u.jar")] == [
        ("org.example:util", "3.2.1")
    ]
    assert list(langpkg.java_packages(b"not a zip", "x.jar")) == []
