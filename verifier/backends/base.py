"""The one shape every storage backend has.

A backend knows how to build its fsspec filesystem from a destination's url, options and
secrets; how to turn what the store says about an object into an `Entry` (size, mtime,
etag, native checksums with provenance); how to print its URL without secrets; and how to
tell transient store errors from terminal ones. Everything else (scan, checks, catalog)
is store-agnostic and talks to a backend only through this class.
"""

from __future__ import annotations

import abc
import threading
from datetime import UTC, datetime, timedelta
from typing import IO, Any, ClassVar

from fsspec.spec import AbstractFileSystem

from verifier import redact
from verifier.backends import flat
from verifier.backends.flat import Tree
from verifier.errors import StoreError
from verifier.model import Checksum, Entry
from verifier.settings import Destination


class Backend(abc.ABC):
    type: ClassVar[str]
    #: how long the store keeps files (the Data Landing Zone deletes them after 7 days)
    retention: ClassVar[timedelta | None] = None
    #: default number of concurrent requests; remote stores like more
    default_jobs: ClassVar[int] = 4
    #: the native checksums (algo, source) the store keeps for an object uploaded in one piece
    #: with no checksum of the uploader's own; the conformance suite holds the backend to it
    offered_checksums: ClassVar[frozenset[tuple[str, str]]] = frozenset()
    #: an object store that lists a whole prefix in one paged, recursive listing (`list_tree`)
    flat_listing: ClassVar[bool] = False

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self._fs: AbstractFileSystem | None = None
        self._lock = threading.Lock()

    # -- what each backend defines -------------------------------------------------
    @classmethod
    def validate(cls, dest: Destination) -> None:
        """Raise ValueError if the destination's url/options cannot work for this store."""
        if not dest.url:
            raise ValueError("required")

    @abc.abstractmethod
    def make_filesystem(self) -> AbstractFileSystem:
        """Build the fsspec filesystem from url, options and secrets."""

    @abc.abstractmethod
    def root(self) -> str:
        """The export folder's path inside the filesystem (no protocol, no trailing slash)."""

    @abc.abstractmethod
    def uri(self, path: str) -> str:
        """A user-facing URI for `path`, with no secret in it."""

    def display_url(self) -> str:
        """The destination URL with secrets stripped, for the catalog and reports."""
        return redact.strip_url(self.dest.url or self.uri(self.root()))

    def native_checksums(self, info: dict[str, Any]) -> tuple[Checksum, ...]:
        """Checksums found in a listing/info dict, with provenance. None by default."""
        return ()

    def enrich(self, entry: Entry) -> Entry:
        """Fetch checksums the listing does not carry (S3 checksum mode). Default: none."""
        return entry

    def classify(self, exc: BaseException) -> StoreError:
        """Turn a client exception into a StoreError, transient or terminal."""
        transient = isinstance(exc, TimeoutError | ConnectionError)
        if isinstance(exc, OSError) and exc.errno in (104, 110, 111, 113):
            transient = True
        return StoreError(redact.scrub(f"{type(exc).__name__}: {exc}"), transient=transient)

    # -- shared behaviour ---------------------------------------------------------
    @property
    def fs(self) -> AbstractFileSystem:
        with self._lock:
            if self._fs is None:
                self._fs = self.make_filesystem()
            return self._fs

    def normalise(self, info: dict[str, Any]) -> Entry:
        path = str(info["name"]).rstrip("/")
        name = path.rsplit("/", 1)[-1]
        is_dir = info.get("type") == "directory"
        etag = info.get("ETag") or info.get("etag")
        if isinstance(etag, str):
            etag = etag.strip('"')
        return Entry(
            path=path,
            name=name,
            is_dir=is_dir,
            size=int(info.get("size") or 0),
            modified_at=_mtime(info),
            etag=etag or None,
            checksums=() if is_dir else self.native_checksums(info),
        )

    def list(self, path: str) -> list[Entry]:
        """The direct children of `path`. Raises StoreError."""
        try:
            infos = (
                self.fs.ls(path, detail=True, refresh=True)
                if _accepts_refresh(self.fs)
                else self.fs.ls(path, detail=True)
            )
        except FileNotFoundError:
            return []
        except Exception as exc:  # noqa: BLE001 - every client error becomes a StoreError
            raise self.classify(exc) from None
        out = []
        base = path.rstrip("/")
        for info in infos:
            e = self.normalise(info)
            if e.path == base or not e.name:  # some stores list the folder itself
                continue
            out.append(e)
        return out

    def list_tree(self, path: str) -> Tree:
        """Every folder below `path` with its direct children, from one recursive listing. Raises StoreError."""
        try:
            infos = self.fs.find(path, detail=True, withdirs=False)
        except FileNotFoundError:
            infos = {}
        except Exception as exc:  # noqa: BLE001 - every client error becomes a StoreError
            raise self.classify(exc) from None
        return flat.group(path, infos.values(), self.normalise)

    def open(self, path: str, block_size: int = 4 * 2**20) -> IO[bytes]:
        try:
            return self.fs.open(path, "rb", block_size=block_size)  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001
            raise self.classify(exc) from None

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of an object: one range request."""
        try:
            data = self.fs.cat_file(path, start=start, end=end)
        except Exception as exc:  # noqa: BLE001
            raise self.classify(exc) from None
        return bytes(data)

    def local_path(self, path: str) -> str | None:
        """A path pyarrow can open directly, for stores that are a local file system."""
        return None

    def close(self) -> None:
        self._fs = None


def _accepts_refresh(fs: AbstractFileSystem) -> bool:
    return getattr(fs, "cachable", True) and fs.protocol not in ("file", "local", ("file", "local"))


def _mtime(info: dict[str, Any]) -> datetime | None:
    for key in ("LastModified", "last_modified", "mtime", "updated", "modified", "time", "creation_time"):
        v = info.get(key)
        if v is None:
            continue
        if isinstance(v, datetime):
            return v if v.tzinfo else v.replace(tzinfo=UTC)
        if isinstance(v, int | float):
            return datetime.fromtimestamp(v, UTC)
        if isinstance(v, str):
            try:
                dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                continue
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None
