"""Fetch a plan's files into ``DIR/<datasetID>/exportTime=<raw>/<name>``, verified, atomically.

Every name (dataset id, export folder, file name) comes from the store by way of the catalog and
is treated as hostile: each must be a plain name, and every folder under DIR is opened relative
to its parent's file descriptor without following symlinks, so nothing can be written outside DIR
whatever the names or the links already there (`place.py`).

Each file is streamed from the store into a temporary name in its final folder, hashed while it
is written, compared with the catalog (size, then every checksum recorded for it — computed by an
earlier full run or offered natively by the store; with none recorded, the content is decoded:
every Parquet page, every JSON line; `verify.py`), fsynced, and only then linked to its final name.
Linking fails if the name exists, so a file is never overwritten, not even one that appeared
meanwhile. A target that already exists is verified the same way: identical means already restored
(a rerun resumes), different means refused. With --decrypt the plaintext is written instead
(`decrypt.py`). What became of each file, and its output, is in `results.py`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from verifier import redact
from verifier.backends import make_backend
from verifier.backends.base import Backend
from verifier.checks import limits
from verifier.checks.files import stream_blocks
from verifier.checks.hashing import MultiHasher, read_ahead
from verifier.checks.manifest import plain_name_problem
from verifier.config import Config, Destination
from verifier.errors import ConfigError, StoreError
from verifier.restore.decrypt import check_decrypt, decrypt_into, target, verify_plaintext
from verifier.restore.place import (
    DIR_FLAGS,
    NEW_FILE_FLAGS,
    READ_FLAGS,
    Refused,
    existing,
    place,
    remove_stale_parts,
    subdir,
    temp_name,
    write_all,
)
from verifier.restore.plan import Link, Plan, PlanFile
from verifier.restore.plan import plan as make_plan
from verifier.restore.results import (
    MISMATCH,
    REFUSED,
    RESTORED,
    SKIPPED,
    UNREADABLE,
    WOULD_FETCH,
    WOULD_SKIP,
    FileResult,
    RestoreResult,
    file_result,
)
from verifier.restore.verify import Mismatch, fd_blocks, hasher_for, verify


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
    check_decrypt(dest, decrypt, into)
    backend = make_backend(dest)
    try:
        _fetch_all(backend, p, to, result, dry_run, jobs or backend.default_jobs, progress, decrypt)
    finally:
        backend.close()
    if into is not None and result.complete and not dry_run:
        files = [
            (to / p.dataset_id / lk.folder / target(f.name, dest, decrypt), lk.export_time)
            for lk in p.links
            for f in lk.files
        ]
        try:
            result.load = loader.load(into, p.dataset_id, files, backend.dest.format, p.total_records)
        except loader.LoadError as exc:
            result.load_error = str(exc)
    return result


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
            root_fd = os.open(to, DIR_FLAGS & ~os.O_NOFOLLOW) if to.is_dir() else None
        else:
            to.mkdir(parents=True, exist_ok=True)
            root_fd = os.open(to, DIR_FLAGS & ~os.O_NOFOLLOW)  # DIR itself is the user's choice
        tasks: list[tuple[Link, PlanFile, int | None]] = []
        for lk in p.links:
            try:
                ds_fd = subdir(root_fd, p.dataset_id, create=not dry_run)
                if ds_fd is not None:
                    folders.append(ds_fd)
                fd = subdir(ds_fd, lk.folder, create=not dry_run)
                if fd is not None:
                    folders.append(fd)
            except Refused as exc:
                for f in lk.files:
                    result.files.append(file_result(p, lk, f, REFUSED, message=f"refused: {exc}"))
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
            return file_result(self.plan, lk, f, REFUSED, message=f"refused: {exc}")
        except Mismatch as exc:
            return file_result(self.plan, lk, f, MISMATCH, message=f"not restored: {exc}")
        except StoreError as exc:
            return file_result(
                self.plan, lk, f, UNREADABLE, message=f"the store failed: {redact.scrub(str(exc))}; re-run"
            )
        except OSError as exc:
            what = redact.scrub(f"{type(exc).__name__}: {exc.strerror or exc}")
            return file_result(self.plan, lk, f, UNREADABLE, message=f"failed: {what}; re-run to resume")

    def _one(self, lk: Link, f: PlanFile, folder: int | None) -> FileResult:
        if folder is not None and existing(folder, target(f.name, self.dest, self.decrypt)):
            try:
                how = self._verify_existing(folder, f)
            except Mismatch as exc:
                raise Refused(
                    f"{f.name} already exists under DIR and differs from the catalog ({exc}); "
                    "it was not overwritten — move it away and re-run"
                ) from None
            self.progress.advance(f.size)
            if not self.dry_run:
                remove_stale_parts(folder, target(f.name, self.dest, self.decrypt))
            return file_result(
                self.plan,
                lk,
                f,
                WOULD_SKIP if self.dry_run else SKIPPED,
                verified_by=how,
                message="already restored",
            )
        if self.dry_run:
            self.progress.advance(f.size)
            return file_result(self.plan, lk, f, WOULD_FETCH)
        assert folder is not None
        how, fetched = self._fetch(lk, f, folder)
        remove_stale_parts(folder, target(f.name, self.dest, self.decrypt))
        return file_result(self.plan, lk, f, RESTORED, verified_by=how, bytes_fetched=fetched)

    def _fetch(self, lk: Link, f: PlanFile, folder: int) -> tuple[str, int]:
        name = target(f.name, self.dest, self.decrypt)
        temp = temp_name(name)
        fd = os.open(temp, NEW_FILE_FLAGS, 0o666, dir_fd=folder)
        placed = False
        try:
            hasher = hasher_for(f)
            path = _store_path(self.backend, self.plan.dataset_id, lk, f.name)
            if self.decrypt:
                how = decrypt_into(fd, f, self._counted(_store_blocks(self.backend, path), hasher), hasher, self.dest)
            else:
                for block in self._counted(_store_blocks(self.backend, path), hasher):
                    write_all(fd, block)
                os.fsync(fd)
                how = verify(fd, f, hasher, self.dest)
            place(folder, temp, name)
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

    def _verify_existing(self, folder: int, f: PlanFile) -> str:
        if self.decrypt:  # a plaintext restored earlier: the catalog's checksums are the ciphertext's
            fd = os.open(target(f.name, self.dest, True), READ_FLAGS, dir_fd=folder)
            try:
                return verify_plaintext(fd, f, self.dest)
            finally:
                os.close(fd)
        fd = os.open(f.name, READ_FLAGS, dir_fd=folder)
        try:
            hasher = hasher_for(f)
            for block in fd_blocks(fd):
                hasher.update(block)
            return verify(fd, f, hasher, self.dest)
        finally:
            os.close(fd)


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
