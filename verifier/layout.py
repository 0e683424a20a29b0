"""Scan a destination's layout: <folder>/<datasetID>/exportTime=YYYYMMDDHHMM/<files>.

Listing only, concurrently; strays become findings, never errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.findings import Finding
from verifier.listing import DatasetListing, ExportListing, ScanResult
from verifier.model import Entry
from verifier.templates import DEFAULT as DEFAULT_TEMPLATE
from verifier.templates import compile_template
from verifier.timeutil import parse_export_time

EXPORT_PREFIX = "exportTime="


def scan(
    backend: Backend,
    *,
    datasets: Iterable[str] | None = None,
    jobs: int = 4,
    progress: Callable[[int], None] | None = None,
) -> ScanResult:
    """List datasets and export folders. Raises StoreError only if the root cannot be listed."""
    root = backend.root()
    wanted = set(datasets) if datasets else None
    template = getattr(backend.dest, "folder_template", DEFAULT_TEMPLATE)
    # the default layout of a whole object-store destination: one recursive listing, not one per folder
    list_children = _lister(backend, root) if template == DEFAULT_TEMPLATE and wanted is None else backend.list
    top = list_children(root)
    if not top and backend.local_path(root) is not None and not backend.fs.isdir(root):
        raise StoreError(
            f"{backend.uri(root)} does not exist or is not a folder; check the destination url", transient=False
        )
    if template != DEFAULT_TEMPLATE:  # the default layout keeps its own, faster walk below
        from verifier.layout_template import scan_template

        return scan_template(backend, compile_template(template), top, wanted, jobs, progress)
    result = ScanResult()
    dataset_dirs = _dataset_dirs(backend, top, wanted, result)

    def list_dataset(d: Entry) -> tuple[Entry, list[Entry] | StoreError]:
        try:
            return d, list_children(d.path)
        except StoreError as exc:
            return d, exc

    def list_export(ex: ExportListing) -> None:
        try:
            ex.entries = list_children(ex.path)
        except StoreError as exc:
            ex.error = exc
        if progress:
            progress(1)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        exports: list[ExportListing] = []
        for d, children in list(pool.map(list_dataset, dataset_dirs)):
            exports.extend(_add_dataset(backend, d, children, result))
        list(pool.map(list_export, exports))
    result.entries_listed = len(top) + sum(len(e.entries) for e in exports)
    return result


def _dataset_dirs(backend: Backend, top: list[Entry], wanted: set[str] | None, result: ScanResult) -> list[Entry]:
    """The root's folders to read as datasets (those asked for); a file there is a finding."""
    dirs: list[Entry] = []
    for e in top:
        if e.is_dir:
            if wanted is None or e.name in wanted:
                dirs.append(e)
        else:
            result.findings.append(
                Finding(
                    "layout.unexpected_entry",
                    f"{backend.uri(e.path)}: a file where dataset folders are "
                    "expected; AEP writes only <datasetID>/exportTime=... folders here — remove it or check the url",
                    destination=backend.dest.name,
                    uri=backend.uri(e.path),
                )
            )
    return dirs


def _add_dataset(
    backend: Backend, d: Entry, children: list[Entry] | StoreError, result: ScanResult
) -> list[ExportListing]:
    """One dataset folder's listing into `result`; its export folders, to be listed next, in the
    order listed. A folder the store refuses, or one without exportTime= folders, is a finding."""
    if isinstance(children, StoreError):
        # one dataset the store will not list must not stop the others (the run is incomplete)
        result.unlisted.add(d.name)
        result.findings.append(
            Finding(
                "backend.unreachable",
                f"{backend.uri(d.path)}: the dataset folder could not be listed: {children}; its exports "
                "were not verified — check permissions on it and retry",
                destination=backend.dest.name,
                dataset_id=d.name,
                uri=backend.uri(d.path),
            )
        )
        return []
    exports: list[ExportListing] = []
    strays: list[Finding] = []
    found_export_dir = False
    for c in children:
        if c.is_dir and c.name.startswith(EXPORT_PREFIX):
            found_export_dir = True
            ex = _export_folder(backend, d, c, result)
            if ex is not None:
                exports.append(ex)
        else:
            strays.append(_stray(backend, d, c))
    if not found_export_dir and children:
        result.findings.append(
            Finding(
                "layout.unexpected_entry",
                f"{backend.uri(d.path)}: a folder with no exportTime= folders "
                "where dataset folders are expected; remove it or check the url",
                destination=backend.dest.name,
                uri=backend.uri(d.path),
            )
        )
        return []
    result.findings.extend(strays)
    # two folders naming the same instant (12 and 14 digits): keep both apart by raw value
    ds = DatasetListing(dataset_id=d.name, path=d.path, exports=sorted(exports, key=lambda x: (x.export_time, x.raw)))
    result.datasets[d.name] = ds
    return exports


def _export_folder(backend: Backend, d: Entry, c: Entry, result: ScanResult) -> ExportListing | None:
    """An exportTime= folder as an export; None (and a finding) if its time is not valid."""
    raw = c.name[len(EXPORT_PREFIX) :]
    t = parse_export_time(raw)
    if t is None:
        result.findings.append(
            Finding(
                "layout.bad_export_time",
                f"{backend.uri(c.path)}: {raw!r} is not a valid "
                "12-digit (YYYYMMDDHHMM) or 14-digit UTC export time; this folder is not verified — "
                "rename or remove it",
                destination=backend.dest.name,
                dataset_id=d.name,
                uri=backend.uri(c.path),
            )
        )
        return None
    return ExportListing(dataset_id=d.name, export_time=t, raw=raw, path=c.path, uri=backend.uri(c.path))


def _stray(backend: Backend, d: Entry, c: Entry) -> Finding:
    """Something in a dataset folder that is not an exportTime= folder."""
    kind = "folder" if c.is_dir else "file"
    return Finding(
        "layout.unexpected_entry",
        f"{backend.uri(c.path)}: a {kind} where only exportTime= folders are expected; remove it or check the url",
        destination=backend.dest.name,
        dataset_id=d.name,
        uri=backend.uri(c.path),
    )


def _lister(backend: Backend, root: str) -> Callable[[str], list[Entry]]:
    """Children by folder from one recursive listing, where the store has one; else `backend.list`.

    If the recursive listing fails, the folder-by-folder walk runs instead: it tells which folder
    the store refuses (one dataset's `backend.unreachable`) or that the root itself cannot be listed.
    """
    if not backend.flat_listing:
        return backend.list
    try:
        tree = backend.list_tree(root)
    except StoreError:
        return backend.list
    return lambda path: list(tree.get(path.rstrip("/"), []))
