"""Per-file checks at three levels: listing (names, sizes), metadata (footers, gzip heads and
trailers, via range requests) and full (every byte hashed, every page decoded, every line
parsed). The entry point is `verifier.checks.files.check_file`; every bound it puts on hostile
input is in `verifier.checks.limits`.

This module holds what the format checkers share: the `Outcome` they fill in, exact range
reads and the canonical schema hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from verifier.errors import StoreError

ReadRange = Callable[[int, int], bytes]  # bytes [start, end) of the object: one range request


@dataclass
class Outcome:
    """What one format checker found: problems as (code, detail) and what it measured.

    `detail` says what is wrong and what to do; the caller prefixes the file's URI. One
    problem per code: the first one found is the one reported.
    """

    problems: list[tuple[str, str]] = field(default_factory=list)
    record_count: int | None = None
    schema: dict[str, str] | None = None
    computed: dict[str, str] = field(default_factory=dict)
    bytes_read: int = 0

    def add(self, code: str, detail: str) -> None:
        if not self.has(code):
            self.problems.append((code, detail))

    def discard(self, code: str) -> None:
        """Withdraw a problem a later, worse one makes moot (a warning under an error)."""
        self.problems = [p for p in self.problems if p[0] != code]

    def has(self, code: str) -> bool:
        return any(c == code for c, _ in self.problems)

    @property
    def failed(self) -> bool:
        return bool(self.problems)


def read_exact(read: ReadRange, start: int, end: int, out: Outcome) -> bytes:
    """Bytes [start, end), counted in `out`; an object shorter than its listing is a StoreError."""
    data = read(start, end)
    out.bytes_read += len(data)
    if len(data) != end - start:
        raise StoreError(
            f"asked for bytes {start}-{end} and got {len(data)}: the object is shorter than listed, "
            "it changed while being checked — re-run"
        )
    return data


def schema_hash(schema: dict[str, str] | None) -> str | None:
    """First 16 hex digits of sha256 over the schema as canonical JSON (keys sorted)."""
    if schema is None:
        return None
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
