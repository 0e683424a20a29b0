"""Whether fetched (or already present) bytes are the catalog's: the size, then every checksum
recorded for the file (computed by an earlier full run or offered natively by the store); with none
recorded, the content decoded (every Parquet page, every JSON line)."""

from __future__ import annotations

import os
from collections.abc import Iterator

from verifier.checks import Outcome, limits, ndjson, parquet, pgp
from verifier.checks.hashing import ALGORITHMS, PROVENANCE, MultiHasher
from verifier.config import Destination
from verifier.model import Checksum, Entry
from verifier.restore.model import PlanFile

NO_CHECKSUM = "verified by size and decoding; no checksum recorded — run `verifier run --level full` to record one"


class Mismatch(Exception):
    """The bytes do not match the catalog."""


def fd_blocks(fd: int, start: int = 0) -> Iterator[bytes]:
    """An open file's bytes from `start`, a block at a time."""
    pos = start
    while True:
        data = os.pread(fd, limits.READ_BLOCK_BYTES, pos)
        if not data:
            return
        pos += len(data)
        yield data


def usable(c: Checksum) -> bool:
    """Whether verifier can compute checksum `c`'s algorithm, and its value looks like one."""
    spec = ALGORITHMS.get(c.algo)
    return spec is not None and len(c.value) == spec[1] and all(ch in "0123456789abcdef" for ch in c.value.lower())


def hasher_for(f: PlanFile) -> MultiHasher:
    """A hasher computing every algorithm of the file's usable recorded checksums."""
    entry = Entry(path="", name=f.name, is_dir=False, size=f.size, checksums=tuple(c for c in f.checksums if usable(c)))
    return MultiHasher(entry)


def verify(fd: int, f: PlanFile, hasher: MultiHasher, dest: Destination) -> str:
    """Compare what was read with the catalog; return how it was verified or raise Mismatch."""
    checked = compare(f, hasher)
    if checked:
        return "size and " + ", ".join(f"{c.algo} ({c.source})" for c in checked)
    decode(fd, f, dest)
    if f.checksums:  # recorded, but none this verifier computes (crc64nvme, an S3 multipart ETag...)
        algos = ", ".join(sorted({c.algo for c in f.checksums}))
        return f"verified by size and decoding; the recorded checksum ({algos}) is not one verifier can compute"
    return NO_CHECKSUM


def compare(f: PlanFile, hasher: MultiHasher) -> list[Checksum]:
    """Size and every usable recorded checksum against the bytes read: the ones that agreed, or Mismatch."""
    if hasher.nbytes != f.size:
        raise Mismatch(f"{hasher.nbytes} bytes read, the catalog records {f.size}")
    computed = hasher.hexdigests()
    checks = [c for c in f.checksums if usable(c)]
    primary = f.checksum
    if primary is not None and primary in checks:
        checks.remove(primary)
        checks.insert(0, primary)
    bad = []
    for c in checks:
        mine = computed.get(c.algo)
        if mine is not None and mine != c.value.lower():
            where = PROVENANCE.get(c.source, c.source)
            bad.append(f"{c.algo} of the bytes is {mine}, the catalog's {c.algo} ({where}) is {c.value.lower()}")
    if bad:
        raise Mismatch("; ".join(bad))
    return [c for c in checks if c.algo in computed]


def decode(fd: int, f: PlanFile, dest: Destination, *, encrypted: bool = True) -> None:
    """No checksum to compare with: read the content through (every page, every line; of an
    encrypted export, every packet header: the ciphertext cannot be decoded without decrypting)."""
    out = Outcome()
    if encrypted and dest.encryption == "pgp":
        pgp.walk(fd_blocks(fd), f.size, dest.pgp_recipients, out)
    elif dest.format == "json":
        ndjson.scan_stream(fd_blocks(fd), f.size, out)
    else:

        def read(start: int, end: int) -> bytes:
            return os.pread(fd, end - start, start)

        footer = parquet.inspect(read, f.size, f.name, dest, out)
        if footer is not None:
            with os.fdopen(os.dup(fd), "rb") as fh:
                parquet.decode(fh, footer, out)
    if out.problems:
        raise Mismatch("; ".join(f"{code}: {detail}" for code, detail in out.problems))
    if f.record_count is not None and out.record_count is not None and out.record_count != f.record_count:
        raise Mismatch(f"{out.record_count} records decoded, the catalog records {f.record_count}")
