"""One data file checked at one level; everything it finds becomes a finding.

`check_file` never raises for bad content or store errors: a file that cannot be read is
``file.unreadable``, anything wrong inside it the format's ``*.corrupt`` or
``file.unexpected_format``. Only interrupts and real memory exhaustion propagate.

Levels are cumulative: metadata adds to listing, full to metadata. At full level every byte
is read once from the store: a local store is hashed by streaming while pyarrow decodes the
same path; a remote object is streamed once through the hashers into a spool file that
pyarrow then decodes (or, without room to spool, decoded with a second read). In a run the
remote reads are made before the check, by the run's threads (`reads.prepare`), and handed
to it as `prepared`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from verifier import redact
from verifier.backends.base import Backend
from verifier.checks import Outcome, gpg, limits, ndjson, parquet, pgp, reads, schema_hash
from verifier.checks.formats import expected_suffixes, name_matches, plain_name
from verifier.checks.hashing import Hasher, MultiHasher, iter_blocks, mismatches, read_ahead
from verifier.checks.reads import Prepared
from verifier.config import Destination
from verifier.errors import StoreError
from verifier.findings import Finding, Severity
from verifier.levels import LEVELS
from verifier.model import Entry, FileResult

UNREADABLE = "file.unreadable"
_RERUN = "check the destination's access and connectivity, then re-run"


@dataclass
class FileCheck:
    result: FileResult
    findings: list[Finding]


def check_file(
    backend: Backend, entry: Entry, uri: str, dest: Destination, level: str, prepared: Prepared | None = None
) -> FileCheck:
    """Check one data file at `level` (listing | metadata | full); `prepared`: the store reads the
    caller made for it (`reads.prepare`), used instead of reading them again."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    out = Outcome()
    try:
        _check(backend, entry, dest, level, out, prepared)
    except StoreError as exc:
        out.add(UNREADABLE, f"the store failed to return the bytes ({redact.scrub(str(exc))}); {_RERUN}")
    except OSError as exc:
        what = redact.scrub(f"{type(exc).__name__}: {exc.strerror or exc}")
        out.add(UNREADABLE, f"reading failed ({what}); {_RERUN}")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a run must survive anything one file does
        what = redact.scrub(f"{type(exc).__name__}: {exc}")
        out.add(UNREADABLE, f"could not be checked ({what}); re-run, and report this if it persists")
    findings = [Finding(code, f"{uri}: {detail}", uri=uri) for code, detail in out.problems]
    failed = any(f.sev >= Severity.ERROR for f in findings)
    result = FileResult(
        entry=entry,
        uri=uri,
        role="data",
        status="failed" if failed else "ok",
        verified_level="metadata" if level == "full" and _not_decoded(out) else level,
        record_count=out.record_count,
        schema=out.schema,
        schema_hash=schema_hash(out.schema),
        computed=out.computed,
        bytes_read=out.bytes_read,
    )
    return FileCheck(result, findings)


def _check(
    backend: Backend, entry: Entry, dest: Destination, level: str, out: Outcome, prepared: Prepared | None
) -> None:
    if entry.size == 0:
        out.add(
            "file.empty", "a data file of zero bytes; the export wrote nothing into it — re-export this dataset run"
        )
        return
    if not name_matches(entry.name, dest):
        out.add(
            "file.unexpected_format",
            f"the name {entry.name!r} does not end with "
            f"{' or '.join(expected_suffixes(dest))} as format {dest.format} expects; check the destination's "
            "format in the config and the dataflow's export settings",
        )
    if level == "listing":
        return
    if level == "metadata":
        read = _store_reader(backend, entry.path)
        if prepared is not None:
            read = reads.cached_reader(prepared.ranges, read)
        if dest.encryption == "pgp":
            pgp.inspect(read, entry.size, dest.pgp_recipients, out)
        elif dest.format == "json":
            ndjson.inspect(read, entry.size, out)
        else:
            parquet.inspect(read, entry.size, entry.name, dest, out)
        return
    spooled = prepared.spooled if prepared is not None else None
    hasher: Hasher = MultiHasher(entry) if spooled is None else reads.Hashed(spooled)
    local = backend.local_path(entry.path) if spooled is None else spooled.path
    if dest.encryption == "pgp":
        _full_pgp(backend, entry, local, dest, hasher, out)
    elif dest.format == "json":
        _full_json(backend, entry, local, hasher, out)
    elif spooled is not None:
        if spooled.nbytes == entry.size:  # else the size change is reported below; other bytes say nothing
            _inspect_and_decode(spooled.path, entry, dest, out)
    elif local is not None:
        _full_parquet_local(local, entry, dest, hasher, out)
    else:
        _full_parquet_remote(backend, entry, dest, hasher, out)
    out.computed = hasher.hexdigests()
    out.bytes_read += hasher.nbytes
    if hasher.nbytes != entry.size:
        out.add(
            UNREADABLE,
            f"read {hasher.nbytes} bytes but the listing said {entry.size}: the object changed "
            "while being checked — re-run",
        )
        return
    bad = mismatches(entry, out.computed)
    if bad:
        out.add(
            "file.checksum_mismatch",
            "; ".join(bad) + "; the bytes changed in storage or in transit — re-run "
            "at level full, and re-export this dataset run if it persists",
        )


# -- reading -----------------------------------------------------------------------------------
def _not_decoded(out: Outcome) -> bool:
    """A full read that did not decode the content: over a decode limit, or a message gpg cannot decrypt."""
    return out.has("file.too_large") or out.has(pgp.UNSUPPORTED)


def _store_reader(backend: Backend, path: str) -> Callable[[int, int], bytes]:
    def read(start: int, end: int) -> bytes:
        return backend.read_range(path, start, end)

    return read


def _file_reader(f: IO[bytes]) -> Callable[[int, int], bytes]:
    fd = f.fileno()

    def read(start: int, end: int) -> bytes:
        return os.pread(fd, end - start, start)

    return read


def stream_blocks(backend: Backend, path: str, local: str | None) -> Iterator[bytes]:
    """The object's bytes in READ_BLOCK_BYTES blocks, front to back, from `local` when it is a
    local file; client errors become StoreError. Restores read through this too."""
    block = limits.READ_BLOCK_BYTES
    if local is not None:
        with open(local, "rb", buffering=0) as f:
            yield from iter_blocks(f, block)
        return
    with backend.open(path, block_size=block) as f:
        while True:
            try:
                data = f.read(block)
            except Exception as exc:  # noqa: BLE001 - every client error becomes a StoreError
                raise backend.classify(exc) from None
            if not data:
                return
            yield bytes(data)


def _hashed(blocks: Iterator[bytes], hasher: Hasher) -> Iterator[bytes]:
    for b in blocks:
        hasher.update(b)
        yield b


# -- full level --------------------------------------------------------------------------------
def _full_json(backend: Backend, entry: Entry, local: str | None, hasher: Hasher, out: Outcome) -> None:
    # hashing runs on the read-ahead thread (hashlib releases the GIL), parsing on this one
    blocks = read_ahead(_hashed(stream_blocks(backend, entry.path, local), hasher), limits.READ_AHEAD_BLOCKS)
    first = next(blocks, b"")
    if not ndjson.magic_ok(first[:3], out):
        for _ in blocks:
            pass
        return

    def chained() -> Iterator[bytes]:
        yield first
        yield from blocks

    ndjson.scan_stream(chained(), entry.size, out)


def _full_pgp(
    backend: Backend, entry: Entry, local: str | None, dest: Destination, hasher: Hasher, out: Outcome
) -> None:
    """The ciphertext is hashed and its framing walked in one pass; with the private key it is
    also decrypted on the way into a spool file, whose plaintext is then checked as any export."""
    blocks = read_ahead(_hashed(stream_blocks(backend, entry.path, local), hasher), limits.READ_AHEAD_BLOCKS)
    if "pgp_private_key" not in dest.pgp_secrets:
        pgp.walk(blocks, entry.size, dest.pgp_recipients, out)
        return
    with tempfile.TemporaryDirectory(dir=limits.SPOOL_DIR, prefix="verifier-plain-") as tmp:
        plain = os.path.join(tmp, "plain")
        if gpg.decrypt(blocks, entry.size, dest, plain, out):
            _check_plaintext(plain, entry, dest, out)


def _check_plaintext(path: str, entry: Entry, dest: Destination, out: Outcome) -> None:
    """Parquet or NDJSON checks on a decrypted spool file; their reads are not store reads."""
    plain = Entry(path=path, name=plain_name(entry.name, dest), is_dir=False, size=os.path.getsize(path))
    if dest.format != "json":
        _inspect_and_decode(path, plain, dest, out)
        return
    with open(path, "rb") as f:
        if ndjson.magic_ok(f.read(3), out):
            ndjson.scan_stream(_blocks_local(path), plain.size, out)


def _full_parquet_local(path: str, entry: Entry, dest: Destination, hasher: Hasher, out: Outcome) -> None:
    """Hash on a thread while pyarrow decodes the same file: two readers, both cores busy."""
    failure: list[BaseException] = []

    def hash_all() -> None:
        try:
            for b in _blocks_local(path):
                hasher.update(b)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            failure.append(exc)

    t = threading.Thread(target=hash_all, name="verifier-hash", daemon=True)
    t.start()
    try:
        _inspect_and_decode(path, entry, dest, out)
    finally:
        t.join()
    if failure:
        raise failure[0]


def _inspect_and_decode(path: str, entry: Entry, dest: Destination, out: Outcome) -> None:
    """Footer checks and page decoding from a local copy; its reads are not store reads."""
    before = out.bytes_read
    with open(path, "rb") as f:
        footer = parquet.inspect(_file_reader(f), entry.size, entry.name, dest, out)
    out.bytes_read = before
    if footer is not None:
        parquet.decode(path, footer, out)


def _blocks_local(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as f:
        yield from iter_blocks(f, limits.READ_BLOCK_BYTES)


def _full_parquet_remote(backend: Backend, entry: Entry, dest: Destination, hasher: Hasher, out: Outcome) -> None:
    spool_dir = limits.SPOOL_DIR or tempfile.gettempdir()
    try:
        room = shutil.disk_usage(spool_dir).free - limits.SPOOL_HEADROOM_BYTES
    except OSError:
        room = -1
    blocks = read_ahead(_hashed(stream_blocks(backend, entry.path, None), hasher), limits.READ_AHEAD_BLOCKS)
    if room < entry.size:
        # no room to spool: hash in one pass, then read the footer and pages again from the store
        for _ in blocks:
            pass
        footer = parquet.inspect(_store_reader(backend, entry.path), entry.size, entry.name, dest, out)
        if footer is not None:
            with backend.open(entry.path, block_size=limits.READ_BLOCK_BYTES) as f:
                parquet.decode(f, footer, out)
            out.bytes_read += entry.size
        return
    with tempfile.NamedTemporaryFile(dir=spool_dir, prefix="verifier-", suffix=".parquet") as tmp:
        for b in blocks:
            tmp.write(b)
        tmp.flush()
        if hasher.nbytes != entry.size:
            return  # the caller reports the size change; decoding a different object says nothing
        _inspect_and_decode(tmp.name, entry, dest, out)
