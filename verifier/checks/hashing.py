"""Content checksums computed while streaming, and their comparison with native ones.

MD5 and CRC32C are always computed at full level (the two checksums stores offer most:
S3 single-part ETags and Azure Content-MD5 are MD5, GCS always has CRC32C). CRC32, SHA-1
and SHA-256 are computed only when the entry carries one to compare with.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Protocol

from verifier.model import Checksum, Entry


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


# -- CRC32C ----------------------------------------------------------------------------------
def _py_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE: list[int] | None = None


def crc32c_py(crc: int, data: bytes) -> int:
    """Pure-python CRC32C (Castagnoli), for when google_crc32c's C extension is missing. Slow."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _py_table()
    table = _TABLE
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _load_extend() -> tuple[Callable[[int, bytes], int], str]:
    try:
        from google_crc32c.cext import extend  # the C extension (hardware CRC where available)
    except ImportError:
        return crc32c_py, "python"
    return extend, "c"


crc32c_extend, CRC32C_IMPLEMENTATION = _load_extend()


class Crc32c:
    name = "crc32c"

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = crc32c_extend(self._crc, data)

    def hexdigest(self) -> str:
        return f"{self._crc:08x}"


class Crc32:
    name = "crc32"

    def __init__(self) -> None:
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def hexdigest(self) -> str:
        return f"{self._crc:08x}"


# algo -> (factory, hex length). md5 and crc32c are always computed; the others on demand.
ALGORITHMS: dict[str, tuple[Callable[[], _Hash], int]] = {
    "md5": (hashlib.md5, 32),
    "crc32c": (Crc32c, 8),
    "crc32": (Crc32, 8),
    "sha1": (hashlib.sha1, 40),
    "sha256": (hashlib.sha256, 64),
}
ALWAYS = ("md5", "crc32c")

PROVENANCE = {
    "service": "computed by the store",
    "client": "as claimed by the uploader",
    "computed": "recorded by an earlier verifier run",
}
_HEX = re.compile(r"^[0-9a-f]+$")


class Hasher(Protocol):
    """What the full-level readers feed: a MultiHasher, or the results of a read done elsewhere."""

    nbytes: int

    def update(self, data: bytes) -> None: ...

    def hexdigests(self) -> dict[str, str]: ...


class MultiHasher:
    """Feeds every block to each hash the entry needs; counts bytes."""

    def __init__(self, entry: Entry) -> None:
        algos = list(ALWAYS) + [c.algo for c in entry.checksums if c.algo in ALGORITHMS and c.algo not in ALWAYS]
        self._hashes: dict[str, _Hash] = {a: ALGORITHMS[a][0]() for a in dict.fromkeys(algos)}
        self._updates = tuple(h.update for h in self._hashes.values())
        self.nbytes = 0

    def update(self, data: bytes) -> None:
        for up in self._updates:
            up(data)
        self.nbytes += len(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self._hashes.items()}


def mismatches(entry: Entry, computed: dict[str, str]) -> list[str]:
    """One phrase per native checksum that disagrees with the bytes read; [] if all agree.

    Malformed native values (an S3 multipart ETag slipped through as md5, wrong length) are
    not compared: they say nothing about the bytes.
    """
    out = []
    for c in entry.checksums:
        mine = computed.get(c.algo)
        if mine is None or not _well_formed(c):
            continue
        if c.value.lower() != mine:
            where = PROVENANCE.get(c.source, f"from {c.source}" if c.source else "of unknown provenance")
            out.append(f"{c.algo} of the bytes read is {mine} but the store's {c.algo} ({where}) is {c.value.lower()}")
    return out


def _well_formed(c: Checksum) -> bool:
    spec = ALGORITHMS.get(c.algo)
    return spec is not None and len(c.value) == spec[1] and bool(_HEX.match(c.value.lower()))


# -- streaming -------------------------------------------------------------------------------
def iter_blocks(f: IO[bytes], block: int) -> Iterator[bytes]:
    while True:
        data = f.read(block)
        if not data:
            return
        yield bytes(data)


def read_ahead(blocks: Iterable[bytes], depth: int) -> Iterator[bytes]:
    """Pull `blocks` on a background thread, at most `depth` ahead, so store reads (network or
    disk) overlap with hashing and parsing. Exceptions are re-raised in the consumer."""
    q: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def pump() -> None:
        try:
            for b in blocks:
                if stop.is_set():
                    return
                q.put((0, b))
            q.put((1, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            q.put((2, exc))

    t = threading.Thread(target=pump, name="verifier-read-ahead", daemon=True)
    t.start()
    try:
        while True:
            kind, item = q.get()
            if kind == 1:
                return
            if kind == 2:
                assert isinstance(item, BaseException)
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        t.join()
