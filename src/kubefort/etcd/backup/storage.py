"""Where a backup repository keeps its files: a local directory, or an S3-compatible bucket.

The interface is deliberately small (whole objects, names relative to the repository root, ``/``
separated). Every write is atomic: a reader never sees half an object. ``put_bytes(exclusive=True)``
fails with :class:`ExistsError` when the name exists (manifest entries are create-once).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from ...errors import KubefortError, UsageError


class StorageError(KubefortError):
    """The repository storage failed (I/O, permissions, bucket access)."""


class ExistsError(StorageError):
    """An exclusive write found the name taken."""


class NotFound(StorageError):
    """No object of that name."""


class Storage(Protocol):
    url: str

    def put_file(self, name: str, src: str) -> None: ...
    def put_bytes(self, name: str, data: bytes, *, exclusive: bool = False) -> None: ...
    def get_bytes(self, name: str) -> bytes: ...
    def open_read(self, name: str) -> contextlib.AbstractContextManager[BinaryIO]: ...
    def exists(self, name: str) -> bool: ...
    def size(self, name: str) -> int: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, name: str) -> None: ...
    def lock(self) -> contextlib.AbstractContextManager[None]: ...
    def scratch(self) -> str: ...


def _check_name(name: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid object name {name!r}")
    return name


class LocalStorage:
    """A directory. Writes go to ``tmp/`` first, are fsynced, then renamed (or hard-linked, for
    exclusive writes) into place, and the directory is fsynced."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root

    def _path(self, name: str) -> str:
        return os.path.join(self.root, *_check_name(name).split("/"))

    def init(self) -> None:
        for d in ("", "tmp", "blobs", "manifest"):
            os.makedirs(os.path.join(self.root, d), mode=0o700, exist_ok=True)

    def scratch(self) -> str:
        d = os.path.join(self.root, "tmp")
        os.makedirs(d, mode=0o700, exist_ok=True)
        return d

    @staticmethod
    def _fsync_dir(path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _install(self, tmp: str, name: str, exclusive: bool) -> None:
        dest = self._path(name)
        os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
        try:
            if exclusive:
                try:
                    os.link(tmp, dest)
                except FileExistsError:
                    raise ExistsError(f"{name} exists") from None
                os.unlink(tmp)
            else:
                os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._fsync_dir(os.path.dirname(dest))

    def put_file(self, name: str, src: str) -> None:
        """Move ``src`` (a file in :meth:`scratch`, already fsynced) into place."""
        self._install(src, name, False)

    def put_bytes(self, name: str, data: bytes, *, exclusive: bool = False) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.scratch(), prefix="put-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self._install(tmp, name, exclusive)

    def get_bytes(self, name: str) -> bytes:
        try:
            with open(self._path(name), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            raise NotFound(name) from None

    @contextlib.contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        try:
            fh = open(self._path(name), "rb")
        except FileNotFoundError:
            raise NotFound(name) from None
        with fh:
            yield fh

    def exists(self, name: str) -> bool:
        return os.path.isfile(self._path(name))

    def size(self, name: str) -> int:
        try:
            return os.path.getsize(self._path(name))
        except FileNotFoundError:
            raise NotFound(name) from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        out = []
        for root, _dirs, files in os.walk(base):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), self.root)
                out.append(rel.replace(os.sep, "/"))
        return sorted(out)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(name))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.root, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StorageError(f"{self.root}: another kubefort backup process holds the repository lock") from None
            # leftovers of an interrupted run: never part of the repository
            shutil.rmtree(os.path.join(self.root, "tmp"), ignore_errors=True)
            os.makedirs(os.path.join(self.root, "tmp"), mode=0o700, exist_ok=True)
            yield
        finally:
            os.close(fd)


class S3Storage:
    """An S3-compatible bucket (``s3://bucket/prefix``) through boto3.

    - Atomic by nature (an object appears whole on PUT); exclusive writes use ``If-None-Match: *``.
    - With ``object_lock_days`` every object is written with Object Lock retention (COMPLIANCE or
      GOVERNANCE mode) when the bucket has Object Lock enabled, so a stolen credential cannot delete or
      overwrite backups before the retention ends; ``prune`` then deletes only what has expired.
    - No lock: run one writer at a time (exclusive manifest writes still refuse a lost race).
    - Blobs are built in a local scratch directory, then uploaded (multipart for large blobs).
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        object_lock_days: int = 0,
        object_lock_mode: str = "GOVERNANCE",
        client: object | None = None,
    ) -> None:
        u = urlsplit(url)
        if u.scheme != "s3" or not u.netloc:
            raise UsageError(f"{url}: expected s3://BUCKET[/PREFIX]")
        self.url = url
        self.bucket = u.netloc
        self.prefix = u.path.strip("/")
        self.object_lock_days = object_lock_days
        self.object_lock_mode = object_lock_mode
        if client is None:
            try:
                import boto3
            except ImportError:
                raise UsageError("S3 repositories need boto3: pip install boto3") from None
            client = boto3.client("s3", endpoint_url=endpoint_url or os.environ.get("KUBEFORT_S3_ENDPOINT") or None)
        self.s3: Any = client  # a boto3 S3 client (or a stand-in with the same methods)
        self._lock_supported: bool | None = None
        self._scratch: str | None = None

    def _key(self, name: str) -> str:
        _check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def init(self) -> None:
        self.s3.head_bucket(Bucket=self.bucket)

    def scratch(self) -> str:
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="kubefort-s3-")
        return self._scratch

    def _lock_args(self) -> dict[str, object]:
        if not self.object_lock_days:
            return {}
        if self._lock_supported is None:
            try:
                cfg = self.s3.get_object_lock_configuration(Bucket=self.bucket)
                self._lock_supported = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except Exception:
                self._lock_supported = False
        if not self._lock_supported:
            return {}
        import datetime as dt

        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.object_lock_days)
        return {"ObjectLockMode": self.object_lock_mode, "ObjectLockRetainUntilDate": until}

    @property
    def object_lock_active(self) -> bool:
        return bool(self._lock_args())

    def put_file(self, name: str, src: str) -> None:
        try:
            self.s3.upload_file(src, self.bucket, self._key(name), ExtraArgs=self._lock_args() or None)
        except Exception as e:
            raise StorageError(f"s3 upload {name}: {e}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(src)

    def put_bytes(self, name: str, data: bytes, *, exclusive: bool = False) -> None:
        kw: dict[str, object] = dict(self._lock_args())
        if exclusive:
            if self.exists(name):  # servers without conditional writes: best effort
                raise ExistsError(f"{name} exists")
            kw["IfNoneMatch"] = "*"
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self._key(name), Body=data, **kw)
        except Exception as e:
            if "PreconditionFailed" in str(e) or "412" in str(e):
                raise ExistsError(f"{name} exists") from None
            raise StorageError(f"s3 put {name}: {e}") from None

    def get_bytes(self, name: str) -> bytes:
        try:
            data: bytes = self.s3.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
            return data
        except Exception as e:
            if "NoSuchKey" in str(e) or "404" in str(e):
                raise NotFound(name) from None
            raise StorageError(f"s3 get {name}: {e}") from None

    @contextlib.contextmanager
    def open_read(self, name: str) -> Iterator[BinaryIO]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except Exception as e:
            if "NoSuchKey" in str(e) or "404" in str(e):
                raise NotFound(name) from None
            raise StorageError(f"s3 get {name}: {e}") from None
        try:
            yield body
        finally:
            body.close()

    def exists(self, name: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(name))
            return True
        except Exception:
            return False

    def size(self, name: str) -> int:
        try:
            return int(self.s3.head_object(Bucket=self.bucket, Key=self._key(name))["ContentLength"])
        except Exception:
            raise NotFound(name) from None

    def list(self, prefix: str) -> list[str]:
        out = []
        base = self._key(prefix.rstrip("/")) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for o in page.get("Contents", []):
                out.append(o["Key"][strip:])
        return sorted(out)

    def delete(self, name: str) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as e:
            raise StorageError(f"s3 delete {name}: {e} (Object Lock retention?)") from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """No lock on S3 (one writer at a time); removes the local scratch directory afterwards."""
        try:
            yield
        finally:
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None


def open_storage(url: str, **s3_options: object) -> LocalStorage | S3Storage:
    if url.startswith("s3://"):
        return S3Storage(url, **s3_options)  # type: ignore[arg-type]
    if "://" in url:
        raise UsageError(f"--repo {url}: a directory or s3://BUCKET/PREFIX")
    return LocalStorage(url)
