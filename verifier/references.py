"""A file version's reference hashes against what a read shows now.

The first full read of a file version records its reference (MD5, CRC32C, and the footer
facts: record count, schema hash). Every later check of the same version compares what is
known of its bytes with it: the hashes of tonight's full read, or, when it was not read in
full tonight, those of its last full read. So a disagreement stays an open
`file.checksum_mismatch` in every run until the file is replaced (its listing changes:
`file.changed` once, then a new reference) or an operator accepts the bytes.
"""

from __future__ import annotations

from datetime import datetime

from verifier.catalog.records import FileRow
from verifier.catalog.references import Reference
from verifier.findings import Finding


def judge(
    prev: FileRow | None,
    row: FileRow,
    *,
    unchanged: bool,
    read_whole: bool,
    trusted: bool,
    listing_changed: bool,
    run_id: int,
    now: datetime,
) -> Finding | None:
    """Set `row.reference`; the finding when the bytes disagree with it.

    `row` holds what is known of the bytes now (tonight's full read if `read_whole`, else the last
    one's). `trusted`: nothing else already condemned these bytes (a store checksum that disagrees),
    so they may become a reference. `listing_changed`: file.changed was already reported from the
    listing, which says more than the hashes would.
    """
    if prev is not None and unchanged and prev.reference is not None:
        row.reference = prev.reference
        diffs = _diffs(prev.reference, row, read_whole)
        if not diffs or not trusted:
            return None
        return _mismatch(row, prev.reference, diffs)
    row.reference = _new(row, run_id, now) if read_whole and trusted else None
    old = prev.reference if prev is not None else None
    if prev is None or unchanged or listing_changed or not read_whole or old is None:
        return None
    diffs = _diffs(old, row, False)
    return _changed(row, old, diffs) if diffs else None


def _new(row: FileRow, run_id: int, now: datetime) -> Reference:
    return Reference(row.md5, row.crc32c, row.record_count, row.schema_hash, "full_read", now, run_id)


def _diffs(ref: Reference, row: FileRow, read_whole: bool) -> list[str]:
    """What disagrees. Footer facts only from a full read, the same road the reference took."""
    out = []
    if ref.md5 and row.md5 and ref.md5 != row.md5:
        out.append(f"MD5 {row.md5}, the reference {ref.md5}")
    elif ref.crc32c and row.crc32c and ref.crc32c != row.crc32c:
        out.append(f"CRC32C {row.crc32c}, the reference {ref.crc32c}")
    counts = (ref.record_count, row.record_count)
    if read_whole and None not in counts and counts[0] != counts[1]:
        out.append(f"{row.record_count} records, the reference {ref.record_count}")
    if read_whole and ref.schema_hash and row.schema_hash and ref.schema_hash != row.schema_hash:
        out.append("a different schema")
    return out


def _since(ref: Reference) -> str:
    when = f"{ref.recorded_at:%Y-%m-%d}" if ref.recorded_at else "an earlier run"
    return f"accepted by an operator on {when}" if ref.source == "accept" else f"recorded by a full read on {when}"


def _mismatch(row: FileRow, ref: Reference, diffs: list[str]) -> Finding:
    read = f"{row.full_read_at:%Y-%m-%d}" if row.full_read_at else "tonight"
    return Finding(
        "file.checksum_mismatch",
        f"{row.uri}: the bytes read in full on {read} have {'; '.join(diffs)} ({_since(ref)}), "
        "although the store shows the same file — the content changed after it was verified: restore "
        "it from another copy, or if these bytes are right, `verifier accept` them",
        uri=row.uri,
    )


def _changed(row: FileRow, ref: Reference, diffs: list[str]) -> Finding:
    return Finding(
        "file.changed",
        f"{row.uri}: replaced since it was verified: the bytes read now have {'; '.join(diffs)} "
        f"({_since(ref)}); a backup must not change after it is written — find out who rewrote it. "
        "These bytes are its reference from now on",
        uri=row.uri,
    )
