"""Fetch a plan's files into ``DIR/<datasetID>/exportTime=<raw>/<name>``, verified, atomically.

Every name (dataset id, export folder, file name) comes from the store by way of the catalog and
is treated as hostile: each must be a plain name, and every folder under DIR is opened relative
to its parent's file descriptor without following symlinks, so nothing can be written outside DIR
whatever the names or the links already there.

Each file is streamed from the store into a temporary name in its final folder, hashed while it
is written, compared with the catalog (size, then every checksum recorded for it — computed by an
earlier full run or offered natively by the store; with none recorded, the content is decoded:
every Parquet page, every JSON line), fsynced, and only then linked to its final name. Linking
fails if the name exists, so a file is never overwritten, not even one that appeared meanwhile.
A target that already exists is verified the same way: identical means already restored (a rerun
resumes), different means refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from verifier import redact
from verifier.backends import make_backend
from verifier.backends.base import Backend
from verifier.checks import Outcome, gpg, limits, ndjson, parquet, pgp
from verifier.checks.files import stream_blocks
from verifier.checks.formats import plain_name
from verifier.checks.hashing import ALGORITHMS, PROVENANCE, MultiHasher, iter_blocks, read_ahead
from verifier.checks.manifest import plain_name_problem
from verifier.config import Config, Destination
from verifier.errors import ConfigError, StoreError
from verifier.exitcodes import ERRORS, INCOMPLETE, OK
from verifier.model import Checksum, Entry
from verifier.restore.plan import Link, Plan, PlanFile
from verifier.restore.plan import plan as make_plan
from verifier.timeutil import iso

NO_CHECKSUM = "verified by size and decoding; no checksum recorded — run `verifier run --level full` to record one"
# actions a file can end in
RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP = "restored", "skipped", "would_fetch", "would_skip"
REFUSED, MISMATCH, UNREADABLE = "refused", "mismatch", "unreadable"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_HEX12 = re.compile(r"[0-9a-f]{12}")
STALE_PART_S = 60.0


class Refused(Exception):
    """A file that must not be written where the plan says (unsafe name, symlink, existing file)."""


class Mismatch(Exception):
    """The bytes do not match the catalog."""


@dataclass
class FileResult:
    export_time: datetime
    name: str
    uri: str
    target: str  # relative to DIR
    size: int
    action: str  # restored | skipped | would_fetch | would_skip | refused | mismatch | unreadable
    verified_by: str | None = None
    message: str | None = None
    bytes_fetched: int = 0

    @property
    def ok(self) -> bool:
        return self.action in (RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP)


@dataclass
class RestoreResult:
    plan: Plan
    to: Path
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)
    load: Any = None  # verifier.restore.load.LoadResult
    load_error: str | None = None

    def count(self, action: str) -> int:
        return sum(1 for f in self.files if f.action == action)

    @property
    def bytes_fetched(self) -> int:
        return sum(f.bytes_fetched for f in self.files)

    @property
    def complete(self) -> bool:
        """Every planned file is in place, verified (or would be, in a dry run)."""
        return self.plan.intact and all(f.ok for f in self.files)

    @property
    def exit_code(self) -> int:
        if not self.plan.intact or any(f.action in (REFUSED, MISMATCH) for f in self.files) or self.load_error:
            return ERRORS
        if any(f.action == UNREADABLE for f in self.files):
            return INCOMPLETE
        return OK


class FetchProgress:
    """Hooks for a progress bar; no-ops by default. Called from worker threads."""

    def start(self, files: int, total_bytes: int) -> None: ...
    def advance(self, nbytes: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...


# -- the entry point ---------------------------------------------------------------------------
def restore(
    config: Config,
    dataset: str,
    as_of: datetime,
    to: Path,
    *,
    destination: str | None = None,
    allow_unverified: bool = False,
    dry_run: bool = False,
    jobs: int | None = None,
    into: Path | None = None,
    progress: FetchProgress | None = None,
    decrypt: bool = False,
) -> RestoreResult:
    """Plan, then fetch every file of the chain into `to`; optionally load it `into` a table.

    Raises ConfigError (bad arguments) before anything is written. A broken chain fetches
    nothing; file problems are reported per file, never raised.
    """
    from verifier.restore import load as loader

    progress = progress or FetchProgress()
    limits.configure(config.limits)  # the decode of a file without checksums honours [limits] as runs do
    to = Path(to)
    if to.exists() and not to.is_dir():
        raise ConfigError(f"--to {to}: exists and is not a folder")
    if into is not None:
        loader.check_target(into, config.catalog_path, dataset)
    p = make_plan(
        config, dataset, as_of, destination=destination, allow_unverified=allow_unverified, require_configured=True
    )
    result = RestoreResult(plan=p, to=to, dry_run=dry_run)
    chosen = p.chosen
    if chosen is None:
        return result
    dest = config.destination(chosen.destination)
    _check_decrypt(dest, decrypt, into)
    backend = make_backend(dest)
    try:
        _fetch_all(backend, p, to, result, dry_run, jobs or backend.default_jobs, progress, decrypt)
    finally:
        backend.close()
    if into is not None and result.complete and not dry_run:
        files = [
            (to / p.dataset_id / lk.folder / _target(f.name, dest, decrypt), lk.export_time)
            for lk in p.links
            for f in lk.files
        ]
        try:
            result.load = loader.load(into, p.dataset_id, files, backend.dest.format, p.total_records)
        except loader.LoadError as exc:
            result.load_error = str(exc)
    return result


def _check_decrypt(dest: Destination, decrypt: bool, into: Path | None) -> None:
    """--decrypt needs an encrypted destination with its private key; --into needs plaintext."""
    if decrypt and (dest.encryption != "pgp" or "pgp_private_key" not in dest.pgp_secrets):
        raise ConfigError(
            f"--decrypt: destination {dest.name!r} has no "
            + ("encryption" if dest.encryption != "pgp" else "secrets.pgp_private_key")
            + " configured (docs/pgp.md)"
        )
    if into is not None and dest.encryption == "pgp" and not decrypt:
        raise ConfigError(f"--into: destination {dest.name!r} is encrypted; add --decrypt to load the plaintext")


def _target(name: str, dest: Destination, decrypt: bool) -> str:
    """The name written under DIR: the plaintext drops a .gpg / .pgp suffix."""
    return plain_name(name, dest) if decrypt else name


def _fetch_all(
    backend: Backend,
    p: Plan,
    to: Path,
    result: RestoreResult,
    dry_run: bool,
    jobs: int,
    progress: FetchProgress,
    decrypt: bool = False,
) -> None:
    root_fd: int | None = None
    folders: list[int] = []
    try:
        if dry_run:
            root_fd = os.open(to, _DIR_FLAGS & ~os.O_NOFOLLOW) if to.is_dir() else None
        else:
            to.mkdir(parents=True, exist_ok=True)
            root_fd = os.open(to, _DIR_FLAGS & ~os.O_NOFOLLOW)  # DIR itself is the user's choice
        tasks: list[tuple[Link, PlanFile, int | None]] = []
        for lk in p.links:
            try:
                ds_fd = _subdir(root_fd, p.dataset_id, create=not dry_run)
                if ds_fd is not None:
                    folders.append(ds_fd)
                fd = _subdir(ds_fd, lk.folder, create=not dry_run)
                if fd is not None:
                    folders.append(fd)
            except Refused as exc:
                for f in lk.files:
                    result.files.append(_result(p, lk, f, REFUSED, message=f"refused: {exc}"))
                continue
            tasks.extend((lk, f, fd) for f in lk.files)
        progress.start(len(tasks), sum(f.size for _, f, _ in tasks))
        ctx = _Context(backend, backend.dest, p, dry_run, progress, decrypt)
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="verifier-restore") as pool:
            futures: list[Future[FileResult]] = [pool.submit(ctx.one, lk, f, fd) for lk, f, fd in tasks]
            try:
                for fut in futures:
                    r = fut.result()
                    result.files.append(r)
                    progress.file_done(r)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        order = {(lk.export_time, f.name): i for i, (lk, f) in enumerate((lk, f) for lk in p.links for f in lk.files)}
        result.files.sort(key=lambda r: order.get((r.export_time, r.name), -1))
    finally:
        for fd in folders:
            os.close(fd)
        if root_fd is not None:
            os.close(root_fd)


def _subdir(parent: int | None, name: str, *, create: bool) -> int | None:
    """Open (creating it if asked) the folder `name` in `parent`, never through a symlink."""
    problem = plain_name_problem(name)
    if problem:
        raise Refused(f"folder name {problem}")
    if parent is None:
        return None
    if create:
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
        except FileExistsError:
            pass
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise Refused(f"{name!r} is in the way: a symlink or a file, not a folder; move it away") from None
        raise


def _result(p: Plan, lk: Link, f: PlanFile, action: str, **kw: Any) -> FileResult:
    target = "/".join((p.dataset_id, lk.folder, f.name))
    return FileResult(lk.export_time, f.name, f.uri, target, f.size, action, **kw)


# -- one file ----------------------------------------------------------------------------------
@dataclass
class _Context:
    backend: Backend
    dest: Destination
    plan: Plan
    dry_run: bool
    progress: FetchProgress
    decrypt: bool = False  # write the verified plaintext of an encrypted export

    def one(self, lk: Link, f: PlanFile, folder: int | None) -> FileResult:
        """Restore one file; every problem becomes the result's action and message."""
        try:
            problem = plain_name_problem(f.name)
            if problem:
                raise Refused(f"file name {problem}")
            return self._one(lk, f, folder)
        except Refused as exc:
            return _result(self.plan, lk, f, REFUSED, message=f"refused: {exc}")
        except Mismatch as exc:
            return _result(self.plan, lk, f, MISMATCH, message=f"not restored: {exc}")
        except StoreError as exc:
            return _result(self.plan, lk, f, UNREADABLE, message=f"the store failed: {redact.scrub(str(exc))}; re-run")
        except OSError as exc:
            what = redact.scrub(f"{type(exc).__name__}: {exc.strerror or exc}")
            return _result(self.plan, lk, f, UNREADABLE, message=f"failed: {what}; re-run to resume")

    def _one(self, lk: Link, f: PlanFile, folder: int | None) -> FileResult:
        if folder is not None:
            existing = _existing(folder, _target(f.name, self.dest, self.decrypt))
            if existing:
                try:
                    how = self._verify_existing(folder, f)
                except Mismatch as exc:
                    raise Refused(
                        f"{f.name} already exists under DIR and differs from the catalog ({exc}); "
                        "it was not overwritten — move it away and re-run"
                    ) from None
                self.progress.advance(f.size)
                if not self.dry_run:
                    _remove_stale_parts(folder, _target(f.name, self.dest, self.decrypt))
                return _result(
                    self.plan,
                    lk,
                    f,
                    WOULD_SKIP if self.dry_run else SKIPPED,
                    verified_by=how,
                    message="already restored",
                )
        if self.dry_run:
            self.progress.advance(f.size)
            return _result(self.plan, lk, f, WOULD_FETCH)
        assert folder is not None
        how, fetched = self._fetch(lk, f, folder)
        _remove_stale_parts(folder, _target(f.name, self.dest, self.decrypt))
        return _result(self.plan, lk, f, RESTORED, verified_by=how, bytes_fetched=fetched)

    def _fetch(self, lk: Link, f: PlanFile, folder: int) -> tuple[str, int]:
        name = _target(f.name, self.dest, self.decrypt)
        temp = _temp_name(name)
        fd = os.open(temp, _NEW_FILE_FLAGS, 0o666, dir_fd=folder)
        placed = False
        try:
            hasher = MultiHasher(_entry(f, ""))
            path = _store_path(self.backend, self.plan.dataset_id, lk, f.name)
            if self.decrypt:
                how = self._decrypt_into(fd, f, self._counted(_store_blocks(self.backend, path), hasher), hasher)
            else:
                for block in self._counted(_store_blocks(self.backend, path), hasher):
                    _write_all(fd, block)
                os.fsync(fd)
                how = _verify(fd, f, hasher, self.dest)
            _place(folder, temp, name)
            placed = True
            return how, hasher.nbytes
        finally:
            os.close(fd)
            if not placed:
                try:
                    os.unlink(temp, dir_fd=folder)
                except FileNotFoundError:
                    pass

    def _counted(self, blocks: Iterator[bytes], hasher: MultiHasher) -> Iterator[bytes]:
        for block in blocks:
            hasher.update(block)
            self.progress.advance(len(block))
            yield block

    def _decrypt_into(self, fd: int, f: PlanFile, blocks: Iterator[bytes], hasher: MultiHasher) -> str:
        """--decrypt: the ciphertext is hashed on its way to gpg and checked against the catalog;
        the plaintext (its integrity checked by gpg) is spooled, copied to `fd` and decoded in full."""
        with tempfile.TemporaryDirectory(dir=limits.SPOOL_DIR, prefix="verifier-plain-") as tmp:
            plain, out = os.path.join(tmp, "plain"), Outcome()
            try:
                decrypted = gpg.decrypt(blocks, f.size, self.dest, plain, out)
            except gpg.GpgUnavailable as exc:
                raise Mismatch(f"cannot decrypt: {exc}") from None
            checked = _compare(f, hasher)  # the ciphertext first: a mismatch says more than a failed decryption
            if not decrypted:
                raise Mismatch("; ".join(f"{code}: {detail}" for code, detail in out.problems))
            with open(plain, "rb") as src:
                for block in iter_blocks(src, limits.READ_BLOCK_BYTES):
                    _write_all(fd, block)
        os.fsync(fd)
        how = self._verify_plaintext(fd, f)
        return ("size and " + ", ".join(f"{c.algo} ({c.source})" for c in checked) + "; " if checked else "") + how

    def _verify_plaintext(self, fd: int, f: PlanFile) -> str:
        size = os.fstat(fd).st_size
        _decode(fd, replace(f, name=plain_name(f.name, self.dest), size=size), self.dest, encrypted=False)
        return "decrypted (integrity checked) and decoded"

    def _verify_existing(self, folder: int, f: PlanFile) -> str:
        if self.decrypt:  # a plaintext restored earlier: the catalog's checksums are the ciphertext's
            fd = os.open(_target(f.name, self.dest, True), _READ_FLAGS, dir_fd=folder)
            try:
                return self._verify_plaintext(fd, f)
            finally:
                os.close(fd)
        fd = os.open(f.name, _READ_FLAGS, dir_fd=folder)
        try:
            hasher = MultiHasher(_entry(f, ""))
            for block in _fd_blocks(fd):
                hasher.update(block)
            return _verify(fd, f, hasher, self.dest)
        finally:
            os.close(fd)


def _existing(folder: int, name: str) -> bool:
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode) else "not a file"
        raise Refused(f"{name} is {kind} under DIR; it was not overwritten — move it away and re-run")
    return True


def _temp_name(name: str) -> str:
    stem = name
    while len(f".{stem}.part-000000000000".encode("utf-8", "surrogatepass")) > 255:
        stem = stem[: len(stem) // 2]
    return f".{stem}.part-{secrets.token_hex(6)}"


def _remove_stale_parts(folder: int, name: str) -> None:
    """Temp files of `name` left by a restore that was killed: once `name` is in place they are
    garbage. A part written to in the last STALE_PART_S may be another restore's, still going."""
    prefix = _temp_name(name)[: -len("000000000000")]
    cutoff = time.time() - STALE_PART_S
    for entry in os.listdir(folder):
        if not (entry.startswith(prefix) and _HEX12.fullmatch(entry[len(prefix) :])):
            continue
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(entry, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                os.unlink(entry, dir_fd=folder)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _place(folder: int, temp: str, name: str) -> None:
    """Give the verified temp file its final name without ever replacing an existing file."""
    try:
        os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        raise Refused(f"{name} appeared under DIR while it was being fetched; it was not overwritten") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS):
            raise
        # a file system without hard links: check, then rename (the window is this process's own)
        if _existing(folder, name):
            raise Refused(f"{name} appeared under DIR while it was being fetched; it was not overwritten") from None
        os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    else:
        os.unlink(temp, dir_fd=folder)
    os.fsync(folder)


# -- reading -----------------------------------------------------------------------------------
def _store_path(backend: Backend, dataset: str, lk: Link, name: str) -> str:
    root = backend.root().rstrip("/")
    base = backend.uri(root).rstrip("/") + "/"
    rel = lk.uri[len(base) :] if lk.uri and lk.uri.startswith(base) else ""
    if rel and ".." not in rel.split("/"):  # the folder as scanned, whatever the destination's folder_template
        return f"{root}/{rel}/{name}"
    return f"{root}/{dataset}/{lk.folder}/{name}"


def _store_blocks(backend: Backend, path: str) -> Iterator[bytes]:
    """The object's bytes, read ahead on a thread; client errors become StoreError."""
    return read_ahead(stream_blocks(backend, path, backend.local_path(path)), limits.READ_AHEAD_BLOCKS)


def _fd_blocks(fd: int, start: int = 0) -> Iterator[bytes]:
    pos = start
    while True:
        data = os.pread(fd, limits.READ_BLOCK_BYTES, pos)
        if not data:
            return
        pos += len(data)
        yield data


# -- verification ------------------------------------------------------------------------------
def _usable(c: Checksum) -> bool:
    spec = ALGORITHMS.get(c.algo)
    return spec is not None and len(c.value) == spec[1] and all(ch in "0123456789abcdef" for ch in c.value.lower())


def _entry(f: PlanFile, path: str) -> Entry:
    """An Entry carrying the file's recorded checksums, so MultiHasher computes each algorithm."""
    return Entry(
        path=path, name=f.name, is_dir=False, size=f.size, checksums=tuple(c for c in f.checksums if _usable(c))
    )


def _verify(fd: int, f: PlanFile, hasher: MultiHasher, dest: Destination) -> str:
    """Compare what was read with the catalog; return how it was verified or raise Mismatch."""
    checked = _compare(f, hasher)
    if checked:
        return "size and " + ", ".join(f"{c.algo} ({c.source})" for c in checked)
    _decode(fd, f, dest)
    if f.checksums:  # recorded, but none this verifier computes (crc64nvme, an S3 multipart ETag...)
        algos = ", ".join(sorted({c.algo for c in f.checksums}))
        return f"verified by size and decoding; the recorded checksum ({algos}) is not one verifier can compute"
    return NO_CHECKSUM


def _compare(f: PlanFile, hasher: MultiHasher) -> list[Checksum]:
    """Size and every usable recorded checksum against the bytes read: the ones that agreed, or Mismatch."""
    if hasher.nbytes != f.size:
        raise Mismatch(f"{hasher.nbytes} bytes read, the catalog records {f.size}")
    computed = hasher.hexdigests()
    usable = [c for c in f.checksums if _usable(c)]
    primary = f.checksum
    if primary is not None and primary in usable:
        usable.remove(primary)
        usable.insert(0, primary)
    bad = []
    for c in usable:
        mine = computed.get(c.algo)
        if mine is not None and mine != c.value.lower():
            where = PROVENANCE.get(c.source, c.source)
            bad.append(f"{c.algo} of the bytes is {mine}, the catalog's {c.algo} ({where}) is {c.value.lower()}")
    if bad:
        raise Mismatch("; ".join(bad))
    return [c for c in usable if c.algo in computed]


def _decode(fd: int, f: PlanFile, dest: Destination, *, encrypted: bool = True) -> None:
    """No checksum to compare with: read the content through (every page, every line; of an
    encrypted export, every packet header: the ciphertext cannot be decoded without decrypting)."""
    out = Outcome()
    if encrypted and dest.encryption == "pgp":
        pgp.walk(_fd_blocks(fd), f.size, dest.pgp_recipients, out)
    elif dest.format == "json":
        ndjson.scan_stream(_fd_blocks(fd), f.size, out)
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


# -- output ------------------------------------------------------------------------------------
def file_dict(r: FileResult) -> dict[str, Any]:
    return {
        "export_time": iso(r.export_time),
        "name": r.name,
        "uri": r.uri,
        "target": r.target,
        "size": r.size,
        "action": r.action,
        "verified_by": r.verified_by,
        "message": r.message,
        "bytes_fetched": r.bytes_fetched,
    }


def to_dict(r: RestoreResult) -> dict[str, Any]:
    """The stable JSON shape of `restore --json`."""
    from verifier.restore import load as loader
    from verifier.restore.plan import to_dict as plan_dict

    return {
        "dataset_id": r.plan.dataset_id,
        "as_of": iso(r.plan.as_of),
        "to": str(r.to),
        "dry_run": r.dry_run,
        "exit_code": r.exit_code,
        "complete": r.complete,
        "summary": {
            "files": len(r.files),
            **{a: r.count(a) for a in (RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP, REFUSED, MISMATCH, UNREADABLE)},
            "bytes_fetched": r.bytes_fetched,
        },
        "files": [file_dict(f) for f in r.files],
        "into": loader.to_dict(r.load) if r.load is not None else None,
        "load_error": r.load_error,
        "plan": plan_dict(r.plan),
    }


def describe(r: RestoreResult) -> str:
    lines = []
    for f in r.files:
        note = f.verified_by or ""
        if f.message:
            note = f"{note}; {f.message}" if note else f.message
        lines.append(f"{f.action:11} {f.target}  {f.size} bytes  {note}".rstrip())
    lines.append(summary_line(r))
    return "\n".join(lines)


def summary_line(r: RestoreResult) -> str:
    parts = [
        f"{r.count(a)} {a.replace('_', ' ')}"
        for a in (RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP, REFUSED, MISMATCH, UNREADABLE)
        if r.count(a)
    ]
    verb = "dry run" if r.dry_run else "restore"
    return (
        f"{verb} of {r.plan.dataset_id} as of {iso(r.plan.as_of)} into {r.to}: "
        f"{', '.join(parts) or 'no files'}; {r.bytes_fetched} bytes fetched; exit status {r.exit_code}"
    )
