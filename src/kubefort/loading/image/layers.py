"""Reading image layers as streams, and refusing hostile ones.

A layer is a tar archive, usually gzip-compressed, that kubefort never unpacks to disk: it is read
once, entry by entry, and only the files an analysis asks for are read into memory. While reading,
every layer is checked against :class:`ImageLimits`:

- *path traversal*: an entry (or a hard link's target) with a ``..`` component is refused; a leading
  ``/`` or ``./`` is dropped, as the container runtimes do;
- *decompression bombs*: the uncompressed bytes of a layer and of the whole image are bounded, and past
  ``ratio_floor`` uncompressed bytes the ratio to the compressed bytes is bounded too;
- *huge files and metadata*: one file, one tar metadata record (PAX or GNU long-name headers, which
  tarfile would otherwise read whole into memory) and the number of entries are bounded;
- *tampering*: the compressed digest (when the blob is named by its digest) and the uncompressed
  ``diff_id`` are verified once the layer has been read.

Symbolic links are never followed on the host: they are resolved inside :class:`~.fs.FileSystem`,
where a loop is refused as well.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from ...errors import LoadError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class ImageRefused(LoadError):
    """The image is refused as hostile or malformed (path traversal, a bomb, a symlink loop, a
    digest that does not match): nothing of it is judged."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageLimits:
    """Bounds on what reading one image may cost. The defaults admit any real image seen so far
    (the largest layers of ML images are a few GiB) and refuse crafted ones quickly."""

    max_layer_bytes: int = 32 * GiB  # uncompressed bytes of one layer
    max_image_bytes: int = 64 * GiB  # uncompressed bytes of all layers together
    max_ratio: int = 100  # uncompressed / compressed bytes, checked once past ratio_floor
    ratio_floor: int = 256 * MiB
    max_entries: int = 2_000_000  # tar entries of all layers together
    max_file_bytes: int = 16 * GiB  # one file of a layer
    max_meta_bytes: int = 1 * MiB  # one PAX / GNU long-name record
    max_read_bytes: int = 256 * MiB  # a file read into memory for analysis; larger ones are skipped
    max_json_bytes: int = 16 * MiB  # manifests, indexes, image configs
    max_symlink_hops: int = 40  # as Linux (ELOOP)


@dataclass(slots=True)
class _Budget:
    """What the layers of one image have used so far."""

    limits: ImageLimits
    image_bytes: int = 0
    entries: int = 0


_META_WORDS = "a tar metadata record"
#: the tarfile metadata-record size bound of the layer being read (set before each layer is opened;
#: tarfile gives its TarInfo class no other way in)
_META_LIMIT = [1 * MiB]


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a PAX header or a GNU long name whole into memory, whatever size its header
    declares: bound those reads (a crafted 8 GiB PAX record would otherwise be allocated)."""

    def _proc_pax(self, tarfile: tarfile.TarFile) -> Any:
        self._check_meta()
        return super()._proc_pax(tarfile)  # type: ignore[misc]

    def _proc_gnulong(self, tarfile: tarfile.TarFile) -> Any:
        self._check_meta()
        return super()._proc_gnulong(tarfile)  # type: ignore[misc]

    def _check_meta(self) -> None:
        if self.size > _META_LIMIT[0]:
            raise tarfile.HeaderError(f"{_META_WORDS} of {self.size} bytes (limit {_META_LIMIT[0]})")


def normalise_entry(name: str) -> str | None:
    """The path of a tar entry relative to the image root (``usr/bin/x``), ``""`` for the root itself,
    or None when the name climbs out of the root (a ``..`` component): a path traversal."""
    parts = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            return None
        parts.append(p)
    return "/".join(parts)


class _LayerStream(io.RawIOBase):
    """The uncompressed bytes of one layer blob, counted and hashed as they are read.

    ``codec``: ``gzip``, ``zstd`` or ``none`` (detected from the first bytes when None).
    """

    def __init__(
        self,
        raw: BinaryIO,
        *,
        name: str,
        budget: _Budget,
        codec: str | None = None,
        digest: str | None = None,
        diff_id: str | None = None,
    ) -> None:
        super().__init__()
        self.raw, self.name, self.budget = raw, name, budget
        self.limits = budget.limits
        self.digest, self.diff_id = digest, diff_id
        self.in_hash = hashlib.sha256() if digest and digest.startswith("sha256:") else None
        # the blob's own digest already proves its content (and so what it decompresses to): the
        # diff_id is checked when there is no blob digest (docker-archive layers)
        self.out_hash = hashlib.sha256() if diff_id and diff_id.startswith("sha256:") and self.in_hash is None else None
        self.bytes_in = self.bytes_out = 0
        self._buf = bytearray()  # uncompressed bytes not yet read, from _pos on
        self._pos = 0
        self._eof = False
        head = self._read_raw(64 * KiB)
        if codec is None:
            codec = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head[:4] == b"\x28\xb5\x2f\xfd" else "none"
        self.codec = codec
        self._dec: Any = None
        if codec == "gzip":
            self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif codec == "zstd":
            try:
                import zstandard  # type: ignore[import-not-found]  # optional: not a kubefort dependency
            except ImportError:
                raise LoadError(name, "zstd-compressed layer: install the 'zstandard' package to read it") from None
            self._dec = zstandard.ZstdDecompressor().decompressobj()
        self._feed(head)

    def _read_raw(self, n: int) -> bytes:
        data = self.raw.read(n)
        if data:
            self.bytes_in += len(data)
            if self.in_hash is not None:
                self.in_hash.update(data)
        return data

    def _feed(self, data: bytes) -> None:
        if self._dec is None:
            self._buf += data
            return
        if self.codec == "gzip":
            while data:
                out = self._dec.decompress(data, 4 * MiB)
                self._buf += out
                self._count(len(out))
                data = self._dec.unconsumed_tail
                if self._dec.eof:  # concatenated gzip members (pigz, some registries)
                    rest = self._dec.unused_data
                    self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data = rest
                    if not rest:
                        break
            return
        out = self._dec.decompress(data)
        self._buf += out
        self._count(len(out))

    def _count(self, n: int) -> None:
        if not n:
            return
        self.bytes_out += n
        lim = self.limits
        if self.bytes_out > lim.max_layer_bytes:
            raise ImageRefused(self.name, f"layer larger than {lim.max_layer_bytes} bytes uncompressed; refused")
        self.budget.image_bytes += n
        if self.budget.image_bytes > lim.max_image_bytes:
            raise ImageRefused(self.name, f"image larger than {lim.max_image_bytes} bytes uncompressed; refused")
        if (
            self._dec is not None
            and self.bytes_out > lim.ratio_floor
            and self.bytes_out > lim.max_ratio * max(self.bytes_in, 1)
        ):
            raise ImageRefused(
                self.name,
                f"decompression bomb: {self.bytes_out} bytes out of {self.bytes_in} compressed "
                f"(more than {lim.max_ratio}:1); refused",
            )

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        want = len(b)
        while len(self._buf) - self._pos < want and not self._eof:
            chunk = self._read_raw(256 * KiB)
            if not chunk:
                self._eof = True
                if self._dec is not None and self.codec == "zstd":
                    self._buf += self._dec.flush()
                break
            self._feed(chunk)
        n = min(want, len(self._buf) - self._pos)
        view = memoryview(self._buf)[self._pos : self._pos + n]
        b[:n] = view
        if self.out_hash is not None and n:
            self.out_hash.update(view)
        view.release()
        self._pos += n
        if self._pos >= 4 * MiB or self._pos == len(self._buf):
            del self._buf[: self._pos]
            self._pos = 0
        return n

    def finish(self) -> None:
        """Read what tarfile left (padding after the end-of-archive blocks) and check the digests."""
        while self.readinto(bytearray(256 * KiB)):
            pass
        if self.in_hash is not None and self.digest and f"sha256:{self.in_hash.hexdigest()}" != self.digest:
            raise ImageRefused(self.name, f"blob content does not match its digest {self.digest}; refused")
        if self.out_hash is not None and self.diff_id and f"sha256:{self.out_hash.hexdigest()}" != self.diff_id:
            raise ImageRefused(self.name, f"layer content does not match its diff_id {self.diff_id}; refused")


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerEntry:
    """One entry of a layer, as tar describes it (paths relative to the root, no leading ``/``)."""

    layer: int
    path: str
    type: str  # file | dir | symlink | hardlink | whiteout | opaque | other
    size: int
    mode: int
    target: str = ""  # symlink target as written; hard link target normalised


#: decides, from an entry, whether its content is wanted; the reader then gets the entry and a stream
#: of its bytes (at most ``max_read_bytes``) and returns what to keep
Select = Callable[[LayerEntry], bool]
Take = Callable[[LayerEntry, IO[bytes]], Any]


def iter_layer(
    stream: BinaryIO,
    *,
    index: int,
    name: str,
    budget: _Budget,
    codec: str | None = None,
    digest: str | None = None,
    diff_id: str | None = None,
) -> Iterator[tuple[LayerEntry, IO[bytes] | None]]:
    """The entries of one layer in tar order, each with a reader of its content (regular files only;
    valid until the next entry). Raises :class:`ImageRefused` for hostile content."""
    lim = budget.limits
    layer = _LayerStream(stream, name=name, budget=budget, codec=codec, digest=digest, diff_id=diff_id)
    _META_LIMIT[0] = lim.max_meta_bytes
    try:
        tf = tarfile.open(fileobj=io.BufferedReader(layer, 1 * MiB), mode="r|", tarinfo=_BoundedTarInfo, errorlevel=2)
    except tarfile.TarError as e:
        if _META_WORDS in str(e):  # the first entry's metadata record is over the bound
            raise ImageRefused(name, f"malformed tar entry ({e}); refused") from None
        raise LoadError(name, f"not a tar archive ({e})") from None
    try:
        while True:
            try:
                ti = tf.next()
            except tarfile.TarError as e:
                raise ImageRefused(name, f"malformed tar entry ({e}); refused") from None
            if ti is None:
                break
            budget.entries += 1
            if budget.entries > lim.max_entries:
                raise ImageRefused(name, f"more than {lim.max_entries} entries; refused")
            path = normalise_entry(ti.name)
            if path is None:
                raise ImageRefused(name, f"entry {ti.name!r} climbs out of the image root (path traversal); refused")
            if ti.size > lim.max_file_bytes and ti.isreg():
                raise ImageRefused(
                    name, f"entry {ti.name!r} is {ti.size} bytes, over the {lim.max_file_bytes}-byte limit; refused"
                )
            base = path.rsplit("/", 1)[-1]
            target = ""
            if base == ".wh..wh..opq":
                kind = "opaque"
                path = path.rsplit("/", 1)[0] if "/" in path else ""
            elif base.startswith(".wh."):
                kind = "whiteout"
                parent = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
                path = parent + base[4:]
            elif ti.isreg():
                kind = "file"
            elif ti.isdir():
                kind = "dir"
            elif ti.issym():
                kind, target = "symlink", ti.linkname
            elif ti.islnk():
                norm = normalise_entry(ti.linkname)
                if norm is None:
                    raise ImageRefused(
                        name, f"hard link {ti.name!r} -> {ti.linkname!r} climbs out of the image root; refused"
                    )
                kind, target = "hardlink", norm
            else:
                kind = "other"
            entry = LayerEntry(layer=index, path=path, type=kind, size=ti.size, mode=ti.mode, target=target)
            yield entry, (tf.extractfile(ti) if kind == "file" else None)
        layer.finish()
    finally:
        tf.close()
