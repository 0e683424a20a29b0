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
    dest = backend.dest
    root = backend.root()
    wanted = set(datasets) if datasets else None
    result = ScanResult()
    template = getattr(dest, "folder_template", DEFAULT_TEMPLATE)
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
    dataset_dirs: list[Entry] = []
    for e in top:
        if e.is_dir:
            if wanted is None or e.name in wanted:
                dataset_dirs.append(e)
        else:
            result.findings.append(
                Finding(
                    "layout.unexpected_entry",
                    f"{backend.uri(e.path)}: a file where dataset folders are "
                    "expected; AEP writes only <datasetID>/exportTime=... folders here — remove it or check the url",
                    destination=dest.name,
                    uri=backend.uri(e.path),
                )
            )

    def list_dataset(d: Entry) -> tuple[Entry, list[Entry] | StoreError]:
        try:
            return d, list_children(d.path)
        except StoreError as exc:
            return d, exc

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        listed = list(pool.map(list_dataset, dataset_dirs))
        exports: list[ExportListing] = []
        for d, children in listed:
            if isinstance(children, StoreError):
                # one dataset the store will not list must not stop the others (the run is incomplete)
                result.unlisted.add(d.name)
                result.findings.append(
                    Finding(
                        "backend.unreachable",
                        f"{backend.uri(d.path)}: the dataset folder could not be listed: {children}; its exports "
                        "were not verified — check permissions on it and retry",
                        destination=dest.name,
                        dataset_id=d.name,
                        uri=backend.uri(d.path),
                    )
                )
                continue
            ds = DatasetListing(dataset_id=d.name, path=d.path)
            found_export_dir = False
            strays: list[Finding] = []
            for c in children:
                if c.is_dir and c.name.startswith(EXPORT_PREFIX):
                    found_export_dir = True
                    raw = c.name[len(EXPORT_PREFIX) :]
                    t = parse_export_time(raw)
                    if t is None:
                        result.findings.append(
                            Finding(
                                "layout.bad_export_time",
                                f"{backend.uri(c.path)}: {raw!r} is not a valid "
                                "12-digit (YYYYMMDDHHMM) or 14-digit UTC export time; this folder is not verified — "
                                "rename or remove it",
                                destination=dest.name,
                                dataset_id=d.name,
                                uri=backend.uri(c.path),
                            )
                        )
                        continue
                    ex = ExportListing(dataset_id=d.name, export_time=t, raw=raw, path=c.path, uri=backend.uri(c.path))
                    ds.exports.append(ex)
                    exports.append(ex)
                else:
                    kind = "folder" if c.is_dir else "file"
                    strays.append(
                        Finding(
                            "layout.unexpected_entry",
                            f"{backend.uri(c.path)}: a {kind} where only exportTime= "
                            "folders are expected; remove it or check the url",
                            destination=dest.name,
                            dataset_id=d.name,
                            uri=backend.uri(c.path),
                        )
                    )
            if not found_export_dir and children:
                result.findings.append(
                    Finding(
                        "layout.unexpected_entry",
                        f"{backend.uri(d.path)}: a folder with no exportTime= folders "
                        "where dataset folders are expected; remove it or check the url",
                        destination=dest.name,
                        uri=backend.uri(d.path),
                    )
                )
                continue
            result.findings.extend(strays)
            # two folders naming the same instant (12 and 14 digits): keep both apart by raw value
            ds.exports.sort(key=lambda x: (x.export_time, x.raw))
            result.datasets[d.name] = ds

        def list_export(ex: ExportListing) -> None:
            try:
                ex.entries = list_children(ex.path)
            except StoreError as exc:
                ex.error = exc
            if progress:
                progress(1)

        list(pool.map(list_export, exports))
    result.entries_listed = len(top) + sum(len(e.entries) for e in exports)
    return result


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
