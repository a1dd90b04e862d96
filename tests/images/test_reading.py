"""Reading images: the three on-disk forms give the same inventory; layers stream through the merged
tree with OCI whiteouts; hostile input is refused with a clear error and nothing is written."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from kubefort.analysis.image.inventory import read_inventory
from kubefort.errors import LoadError
from kubefort.loading.image import ImageLimits, ImageRefused, Platform, open_image, parse_image_spec
from kubefort.loading.image.layers import MiB, normalise_entry

from .conftest import small_image
from .pack import Entry, Image, layer_tar, sha, write_docker_archive, write_oci_layout, write_oci_tar


def inventory(
    spec: str, limits: ImageLimits = ImageLimits(), platform: Platform | None = None
) -> list[tuple[str, ...]]:
    with open_image(spec, limits=limits, platform=platform) as img:
        inv = read_inventory(img, limits=limits)
    return [(p.type, p.name, p.version, p.purl, str(p.layer)) for p in inv.packages]


def test_three_forms_same_inventory(tmp_path: Path) -> None:
    img = small_image(User="1000")
    docker = write_docker_archive(img, tmp_path / "img.tar")
    layout = write_oci_layout(img, tmp_path / "layout")
    oci_tar = write_oci_tar(img, tmp_path / "img-oci.tar")
    got = inventory(str(docker))
    assert got == inventory(str(layout)) == inventory(f"oci:{layout}:1") == inventory(str(oci_tar))
    assert (
        "deb",
        "zlib1g",
        "1:1.2.13.dfsg-1",
        "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12.15&epoch=1",
        "0",
    ) in got
    assert ("pypi", "requests", "2.25.0", "pkg:pypi/requests@2.25.0", "1") in got
    assert ("npm", "lodash", "4.17.20", "pkg:npm/lodash@4.17.20", "1") in got
    assert len(got) == 5  # 3 dpkg stanzas, 1 Python, 1 npm (node_modules/lodash/fp is not a package)


def test_whiteouts_and_opaque_directories(tmp_path: Path) -> None:
    from kubefort.loading.image import read_filesystem

    l0 = layer_tar([Entry("a/x", b"1"), Entry("a/y", b"2"), Entry("b/z", b"3"), Entry("c", b"4")])
    l1 = layer_tar([Entry("a/.wh.x"), Entry("b/.wh..wh..opq"), Entry("b/new", b"5"), Entry(".wh.c")])
    path = write_docker_archive(Image(layers=[l0, l1]), tmp_path / "wh.tar")
    with open_image(str(path)) as img:
        fs = read_filesystem(img, lambda e: True, lambda e, r: r.read())
    files = sorted(n.path for n in fs.files())
    assert files == ["a/y", "b/new"]
    assert [n.path for n in fs.taken] == ["a/x", "a/y", "b/z", "c", "b/new"]  # what every layer held


def test_spec_parsing(tmp_path: Path) -> None:
    tar = tmp_path / "img.tar"
    tar.write_bytes(b"")
    assert parse_image_spec(str(tar)).transport == "archive"
    assert parse_image_spec(f"{tar}:app:1").tag == "app:1"
    assert parse_image_spec(f"docker-archive:{tar}:app:1").transport == "docker-archive"
    assert parse_image_spec("oci:/nonexistent:1").transport == "oci"
    assert parse_image_spec("registry.example.com/team/app:1.2").transport == "registry"
    assert parse_image_spec("docker://nginx:1.25").location == "nginx:1.25"


def test_multi_platform_index(tmp_path: Path) -> None:
    amd = small_image()
    arm = Image(
        layers=[layer_tar([Entry("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n")])], platform=("linux", "arm64")
    )
    layout = write_oci_layout([amd, arm], tmp_path / "multi", index=True)
    with open_image(str(layout), platform=Platform.parse("linux/arm64")) as img:
        assert img.platform == "linux/arm64"
    with open_image(str(layout), platform=Platform.parse("linux/amd64")) as img:
        assert img.platform == "linux/amd64"
    with pytest.raises(
        LoadError, match=r"no image for platform linux/s390x \(the index offers linux/amd64, linux/arm64\)"
    ):
        open_image(str(layout), platform=Platform.parse("linux/s390x"))


# -- hostile input -----------------------------------------------------------------------------------


def _refused(path: Path, match: str, limits: ImageLimits = ImageLimits()) -> None:
    before = set(os.listdir(path.parent))
    with pytest.raises(ImageRefused, match=match):
        inventory(str(path), limits)
    assert set(os.listdir(path.parent)) == before  # nothing written beside it


def _raw_layer(name: str, data: bytes = b"x", *, linkname: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(name)
        if linkname is not None:
            ti.type, ti.linkname = tarfile.LNKTYPE, linkname
            tf.addfile(ti)
        else:
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_path_traversal_refused(tmp_path: Path) -> None:
    path = write_docker_archive(Image(layers=[_raw_layer("../../etc/cron.d/evil")]), tmp_path / "t.tar")
    _refused(path, r"climbs out of the image root \(path traversal\)")
    path = write_docker_archive(
        Image(layers=[_raw_layer("app/link", linkname="../../../etc/shadow")]), tmp_path / "h.tar"
    )
    _refused(path, r"hard link .* climbs out of the image root")
    assert normalise_entry("/usr/bin/x") == "usr/bin/x" and normalise_entry("./a/./b") == "a/b"


def test_docker_archive_manifest_traversal_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.tar"
    with tarfile.open(path, "w") as tf:
        doc = json.dumps([{"Config": "c.json", "RepoTags": [], "Layers": ["../../../../etc/passwd"]}]).encode()
        for name, data in (("manifest.json", doc), ("c.json", b"{}")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    _refused(path, r"layer path .* climbs out of the archive")


def test_oci_blob_digest_must_be_a_digest(tmp_path: Path) -> None:
    layout = write_oci_layout(small_image(), tmp_path / "layout")
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(ImageRefused, match="invalid blob digest"):
        open_image(str(layout))


def test_tampered_blob_refused(tmp_path: Path) -> None:
    layout = write_oci_layout(small_image(), tmp_path / "layout", compress=False)
    manifest = next(p for p in (layout / "blobs" / "sha256").iterdir() if b'"layers"' in p.read_bytes())
    layer_digest = json.loads(manifest.read_bytes())["layers"][1]["digest"].split(":")[1]
    blob = layout / "blobs" / "sha256" / layer_digest
    data = bytearray(blob.read_bytes())
    data[600] ^= 0x20  # one bit of a file's content
    blob.write_bytes(bytes(data))
    with pytest.raises(ImageRefused, match="does not match its digest"):
        inventory(str(layout))


def test_symlink_loop_refused(tmp_path: Path) -> None:
    layer = layer_tar([Entry("a", type="symlink", target="b"), Entry("b", type="symlink", target="../a")])
    _refused(write_docker_archive(Image(layers=[layer]), tmp_path / "l.tar"), r"symbolic link loop at /")


def test_decompression_bomb_refused(tmp_path: Path) -> None:
    zeros = layer_tar([Entry("zeros", b"\0" * (40 * MiB))])
    assert len(gzip.compress(zeros, 9)) < 100_000  # 40 MiB in well under 100 kB: a 400:1 bomb
    path = write_oci_layout(Image(layers=[zeros]), tmp_path / "bomb")
    limits = ImageLimits(ratio_floor=8 * MiB)
    with pytest.raises(ImageRefused, match=r"decompression bomb: \d+ bytes out of \d+ compressed \(more than 100:1\)"):
        inventory(str(path), limits)
    with pytest.raises(ImageRefused, match="layer larger than"):
        inventory(str(path), ImageLimits(max_layer_bytes=16 * MiB))
    with pytest.raises(ImageRefused, match="image larger than"):
        inventory(str(path), ImageLimits(max_image_bytes=16 * MiB))


def test_huge_file_and_metadata_refused(tmp_path: Path) -> None:
    big = layer_tar([Entry("big.bin", b"\1" * (3 * MiB))])
    path = write_docker_archive(Image(layers=[big]), tmp_path / "big.tar")
    _refused(path, r"entry 'big.bin' is 3145728 bytes, over the 1048576-byte limit", ImageLimits(max_file_bytes=MiB))
    # a PAX header record larger than the bound (tarfile would read it whole into memory)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("x")
        ti.pax_headers = {"comment": "A" * (2 * MiB)}
        tf.addfile(ti, io.BytesIO(b""))
    path = write_docker_archive(Image(layers=[buf.getvalue()]), tmp_path / "pax.tar")
    _refused(path, r"malformed tar entry \(a tar metadata record of \d+ bytes")


def test_entry_count_refused(tmp_path: Path) -> None:
    layer = layer_tar([Entry(f"f{i}", b"") for i in range(50)])
    _refused(
        write_docker_archive(Image(layers=[layer]), tmp_path / "n.tar"),
        "more than 20 entries",
        ImageLimits(max_entries=20),
    )


def test_layer_digest_check_uses_diff_id(tmp_path: Path) -> None:
    img = small_image()
    # a config that names another diff_id for a layer: the layer is refused
    cfg = json.loads(img.config_json())
    cfg["rootfs"]["diff_ids"][1] = sha(b"something else")
    bad = Image(layers=img.layers)
    bad.config_json = lambda: json.dumps(cfg).encode()  # type: ignore[method-assign]
    path = write_docker_archive(bad, tmp_path / "bad.tar")
    _refused(path, "does not match its diff_id")


def test_entries_land_through_linked_parents(tmp_path: Path) -> None:
    """A later layer's ``lib/...`` lands in ``usr/lib/...`` when ``lib`` links there (merged /usr)."""
    from kubefort.loading.image import read_filesystem

    l0 = layer_tar([Entry("usr/lib", type="dir", mode=0o755), Entry("lib", type="symlink", target="usr/lib")])
    meta = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"
    l1 = layer_tar([Entry("lib/python3/dist-packages/foo-1.0.dist-info/METADATA", meta)])
    path = write_docker_archive(Image(layers=[l0, l1]), tmp_path / "merged.tar")
    with open_image(str(path)) as img:
        fs = read_filesystem(img, lambda e: True, lambda e, r: r.read())
    assert "usr/lib/python3/dist-packages/foo-1.0.dist-info/METADATA" in fs.nodes
    assert fs.get("lib/python3/dist-packages/foo-1.0.dist-info/METADATA") is not None
    assert [p[1:3] for p in inventory(str(path))] == [("foo", "1.0")]
