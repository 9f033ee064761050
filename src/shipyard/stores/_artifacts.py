"""The artifact store: files under one fsspec URL, checksummed on write, verified on read.

Local paths and ``file://`` URLs are written to a temporary name in the target
folder, flushed to disk and renamed into place, so a reader never sees half a
file. Object stores (``s3://``) publish an object only when its upload
completes, which gives the same guarantee.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

from shipyard.core.entities import ArtifactInfo
from shipyard.core.errors import (
    ArtifactNotFoundError,
    ConfigError,
    CorruptedArtifactError,
    InvalidInputError,
    StoreError,
)
from shipyard.core.ids import new_id

__all__ = ["ArtifactStore", "validate_artifact_path"]

_CHUNK = 1 << 20
_EXTRAS = {"s3": "`shipyard[s3]`", "s3a": "`shipyard[s3]`"}


def validate_artifact_path(path: str) -> str:
    """Normalise a relative artifact path, refusing anything that could escape the store.

    Raises:
        InvalidInputError: the path is empty, absolute, or has a ``..`` part.

    Example:
        >>> validate_artifact_path("plots/./roc.png")
        'plots/roc.png'
    """
    if not isinstance(path, str) or not path.strip():
        raise InvalidInputError(f"artifact path must be a non-empty string, got {path!r}")
    if "\x00" in path or "\\" in path:
        raise InvalidInputError(
            f"artifact path {path!r} contains a NUL or backslash; use '/' between folders"
        )
    if (
        path.startswith("/")
        or PurePosixPath(path).is_absolute()
        or re.match(r"[A-Za-z]:(/|$)", path) is not None  # a Windows drive, C: or C:/...
    ):
        raise InvalidInputError(f"artifact path {path!r} is absolute; give a path inside the run")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInputError(f"artifact path {path!r} climbs out with '..'; this is refused")
    if not parts:
        raise InvalidInputError(f"artifact path {path!r} names no file")
    return "/".join(parts)


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    """Artifacts under one root URL: a local folder or ``s3://bucket/prefix``.

    Keys are relative POSIX paths (``runs/<id>/model.pkl``). No I/O happens in
    the constructor.

    Example:
        >>> store = ArtifactStore("/tmp/artifacts")
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/") or url
        self.storage_options = storage_options or {}
        self._fs: Any = None
        self._root = ""

    @property
    def fs(self) -> Any:
        """The fsspec filesystem, created on first use."""
        if self._fs is None:
            try:
                from fsspec.core import url_to_fs

                self._fs, self._root = url_to_fs(self.url, **self.storage_options)
            except ImportError as exc:
                protocol = self.url.split("://", 1)[0]
                hint = _EXTRAS.get(protocol, f"the fsspec implementation for {protocol}://")
                raise ConfigError(
                    f"artifact URL {self.url!r} needs a package that is not installed ({exc}); "
                    f"install {hint}"
                ) from exc
            except ValueError as exc:
                raise ConfigError(f"artifact URL {self.url!r} is not usable: {exc}") from exc
            except OSError as exc:
                raise StoreError(f"artifact store {self.url} cannot be opened: {exc}") from exc
        return self._fs

    @property
    def is_local(self) -> bool:
        """True when the store is a folder on this machine."""
        return "file" in _protocols(self.fs)

    def _full(self, key: str) -> str:
        _ = self.fs  # resolves the root
        return posixpath.join(self._root, validate_artifact_path(key))

    def uri(self, key: str) -> str:
        """The full URL of a key, for display."""
        return f"{self.url}/{validate_artifact_path(key)}"

    @contextmanager
    def _wrap(self, key: str, writing: bool = False) -> Iterator[None]:
        try:
            yield
        except (ArtifactNotFoundError, CorruptedArtifactError, InvalidInputError):
            raise
        except FileNotFoundError as exc:
            if writing:
                raise StoreError(
                    f"cannot write artifact {key!r} to {self.url}: the bucket or folder "
                    f"does not exist ({exc})"
                ) from exc
            raise ArtifactNotFoundError(
                f"artifact {key!r} is missing from {self.url}; it was indexed but its file is gone"
            ) from exc
        except OSError as exc:
            raise StoreError(f"artifact store {self.url} failed on {key!r}: {exc}") from exc

    # -- writing ----------------------------------------------------------------------

    def put_file(self, source: str | os.PathLike[str], key: str) -> ArtifactInfo:
        """Copy a local file into the store atomically; return its size and sha256."""
        src = Path(source)
        if not src.is_file():
            raise InvalidInputError(f"cannot log {str(src)!r}: it is not a file")
        full = self._full(key)
        with self._wrap(key, writing=True):
            if self.is_local:
                sha, size = self._write_local(full, src.open("rb"))
            else:
                # Object stores have no folders to make (and s3fs's makedirs would
                # create a missing bucket instead of reporting it).
                sha, size = _sha256_file(src)
                self.fs.put_file(str(src), full)
        return ArtifactInfo(validate_artifact_path(key), size, sha)

    def put_bytes(self, data: bytes, key: str) -> ArtifactInfo:
        """Write bytes under a key atomically; return their size and sha256."""
        full = self._full(key)
        with self._wrap(key, writing=True):
            if self.is_local:
                import io

                sha, size = self._write_local(full, io.BytesIO(data))
            else:
                self.fs.pipe_file(full, data)
                sha, size = hashlib.sha256(data).hexdigest(), len(data)
        return ArtifactInfo(validate_artifact_path(key), size, sha)

    @staticmethod
    def _write_local(full: str, source: IO[bytes]) -> tuple[str, int]:
        target = Path(full)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        tmp = target.with_name(f".{target.name}.tmp-{new_id()[:12]}")
        try:
            with source, tmp.open("wb") as out:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return digest.hexdigest(), size

    # -- reading ----------------------------------------------------------------------

    def get_bytes(self, key: str, sha256: str) -> bytes:
        """Read a whole artifact, verifying it against the recorded sha256.

        Raises:
            ArtifactNotFoundError: the file is gone.
            CorruptedArtifactError: its bytes changed since they were written.
        """
        full = self._full(key)
        with self._wrap(key):
            data: bytes = self.fs.cat_file(full)
        self._verify(key, hashlib.sha256(data).hexdigest(), sha256)
        return data

    def download(self, key: str, dest: str | os.PathLike[str], sha256: str) -> Path:
        """Copy an artifact to a local path (atomically), verifying its sha256 on the way."""
        full = self._full(key)  # validates the key before anything touches the disk
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with self._wrap(key), os.fdopen(fd, "wb") as out, self.fs.open(full, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            self._verify(key, digest.hexdigest(), sha256)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def local_path(self, key: str) -> Path:
        """Where a key's file is on this machine, for a local store (nothing is read).

        Raises:
            InvalidInputError: the store is not local.
        """
        if not self.is_local:
            raise InvalidInputError(f"artifact store {self.url} is not a local folder")
        return Path(self._full(key))

    def verified_local_path(self, key: str, sha256: str) -> Path:
        """The file behind a key in a local store, after checking its sha256.

        Lets a reader use a large artifact in place instead of copying it.

        Raises:
            InvalidInputError: the store is not local.
            ArtifactNotFoundError: the file is gone.
            CorruptedArtifactError: its bytes changed since they were written.
        """
        path = self.local_path(key)
        with self._wrap(key):
            actual, _ = _sha256_file(path)
        self._verify(key, actual, sha256)
        return path

    def _verify(self, key: str, actual: str, expected: str) -> None:
        if actual != expected:
            raise CorruptedArtifactError(
                f"artifact {key!r} in {self.url} is corrupted: its sha256 is {actual[:16]}..., "
                f"but {expected[:16]}... was recorded when it was written. "
                "Restore it from a backup or log it again"
            )

    def exists(self, key: str) -> bool:
        """Whether a file is stored under the key."""
        with self._wrap(key):
            return bool(self.fs.exists(self._full(key)))

    def delete(self, key: str) -> None:
        """Remove a file; missing files are fine."""
        with self._wrap(key):
            full = self._full(key)
            if self.fs.exists(full):
                self.fs.rm(full)


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
