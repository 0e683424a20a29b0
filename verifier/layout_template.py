"""Scanning a destination whose dataflow writes folders by a custom template (SPEC §9).

The default `%DATASET_ID%/%EXPORT_TIME%` layout has its own walk in layout.py; this one walks
one folder level per template level and keeps the paths whose every level matches.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.findings import Finding
from verifier.listing import DatasetListing, ExportListing, ScanResult
from verifier.model import Entry
from verifier.templates import Template


def scan_template(
    backend: Backend,
    template: Template,
    top: list[Entry],
    wanted: set[str] | None,
    jobs: int,
    progress: Callable[[int], None] | None,
) -> ScanResult:
    result = ScanResult()
    dest = backend.dest
    # (entry, the names of the levels above it and its own)
    frontier: list[tuple[Entry, list[str]]] = [(e, [e.name]) for e in top]
    exports: list[ExportListing] = []
    listed = len(top)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for depth in range(len(template.levels)):
            last = depth == len(template.levels) - 1
            keep: list[tuple[Entry, list[str]]] = []
            for e, parts in frontier:
                if e.is_dir and template.levels[depth].fullmatch(e.name):
                    keep.append((e, parts))
                else:
                    result.findings.append(_stray(backend, e, template))
            if last:
                for e, parts in keep:
                    hit = template.match(parts)
                    if hit is None:  # every level matched its pattern but the time is not a valid one
                        result.findings.append(_bad_time(backend, e))
                        continue
                    ds, when, raw = hit
                    if wanted is not None and ds not in wanted:
                        continue
                    ex = ExportListing(dataset_id=ds, export_time=when, raw=raw, path=e.path, uri=backend.uri(e.path))
                    exports.append(ex)
                    result.datasets.setdefault(ds, DatasetListing(dataset_id=ds, path=backend.root())).exports.append(
                        ex
                    )
                break
            children = list(pool.map(lambda item: _list(backend, item[0]), keep))
            frontier = []
            for (e, parts), kids in zip(keep, children, strict=True):
                if isinstance(kids, StoreError):
                    result.findings.append(
                        Finding(
                            "backend.unreachable",
                            f"{backend.uri(e.path)}: could not be listed: {kids}; the exports under it were not "
                            "verified — check permissions on it and retry",
                            destination=dest.name,
                            uri=backend.uri(e.path),
                        )
                    )
                    continue
                listed += len(kids)
                frontier += [(k, [*parts, k.name]) for k in kids]

        def list_export(ex: ExportListing) -> None:
            try:
                ex.entries = backend.list(ex.path)
            except StoreError as exc:
                ex.error = exc
            if progress:
                progress(1)

        list(pool.map(list_export, exports))
    for listing in result.datasets.values():
        listing.exports.sort(key=lambda x: (x.export_time, x.raw))
    result.entries_listed = listed + sum(len(e.entries) for e in exports)
    return result


def _list(backend: Backend, e: Entry) -> list[Entry] | StoreError:
    try:
        return backend.list(e.path)
    except StoreError as exc:
        return exc


def _stray(backend: Backend, e: Entry, template: Template) -> Finding:
    kind = "folder" if e.is_dir else "file"
    return Finding(
        "layout.unexpected_entry",
        f"{backend.uri(e.path)}: a {kind} that does not fit the folder template {template.text!r}; remove it or "
        "check folder_template",
        destination=backend.dest.name,
        uri=backend.uri(e.path),
    )


def _bad_time(backend: Backend, e: Entry) -> Finding:
    return Finding(
        "layout.bad_export_time",
        f"{backend.uri(e.path)}: the folder fits the template but its time is not a valid UTC time; this folder "
        "is not verified — rename or remove it",
        destination=backend.dest.name,
        uri=backend.uri(e.path),
    )
