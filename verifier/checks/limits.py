"""Every bound the per-file checks put on hostile input, in one place.

Files come from storage we do not control: a footer can claim gigabytes, a gzip member can
expand a thousandfold, a line can lack its newline. Each check refuses to go past one of
these numbers and reports why instead: a structurally valid file beyond one is
``file.too_large`` (a warning naming the limit and its ``[limits]`` key; the file does not count
as fully verified), never damage. They are module constants, set from the config's ``[limits]``
(`CONFIG`, `configure`) and lowered by tests with ``monkeypatch.setattr(limits, NAME, value)``;
the check modules read them at call time, never at import time.
"""

from __future__ import annotations

import os

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# -- reading -------------------------------------------------------------------------------
#: size of each read when streaming a whole object (hashing, spooling, gunzip)
READ_BLOCK_BYTES = 8 * MiB
#: how many blocks a background reader may hold ahead of the consumer
READ_AHEAD_BLOCKS = 2
#: metadata level, Parquet: bytes fetched from the end in the first range request; a footer
#: that fits needs no second request
TAIL_GUESS_BYTES = 64 * KiB
#: metadata level, remote store: an object this small is fetched in one request and the check's
#: ranges served from it (one round trip costs more than the extra bytes); bigger ones range by range
WHOLE_OBJECT_BYTES = 1 * MiB
#: where full-level reads of remote objects are spooled (None: the system temp dir)
SPOOL_DIR: str | None = None
#: free space to leave on the spool file system beyond the object itself
SPOOL_HEADROOM_BYTES = 256 * MiB

# -- OpenPGP ---------------------------------------------------------------------------------
#: metadata level: bytes fetched from the start; the session-key packets and the data packet's
#: header must be in them (they take a few hundred bytes)
PGP_HEAD_BYTES = 64 * KiB

# -- Parquet -------------------------------------------------------------------------------
#: a footer (FileMetaData) longer than this is refused rather than fetched and parsed
MAX_FOOTER_BYTES = 64 * MiB
#: thrift limits handed to the footer and page-header parser
THRIFT_STRING_LIMIT = 64 * MiB
THRIFT_CONTAINER_LIMIT = 1_000_000
#: nesting depth of the Parquet schema
SCHEMA_DEPTH_LIMIT = 64
#: metadata sanity: more than this is "absurd", refused before anything is decoded
MAX_ROW_GROUPS = 100_000
MAX_COLUMNS = 100_000
MAX_COLUMN_CHUNKS = 2_000_000  # row groups x leaf columns, walked in Python
MAX_ROWS = 10**11
#: a row group declaring more uncompressed bytes than this is not decoded
MAX_ROW_GROUP_BYTES = 2 * GiB
#: rows per decoded batch at full level (memory is about batch_size x row width)
DECODE_BATCH_ROWS = 16 * 1024
#: aim for decoded batches of about this many bytes (from the declared row width)
DECODE_BATCH_BYTES = 8 * MiB
#: row groups whose compressed size is at most this are read with pre_buffer (coalesced
#: reads, one row group held in memory); bigger ones are streamed through DECODE_BUFFER_BYTES
PRE_BUFFER_MAX_BYTES = 96 * MiB
DECODE_BUFFER_BYTES = 8 * MiB
#: DuckDB, asked for a second opinion only when pyarrow refuses a file, may use this much memory
SECOND_READER_MEMORY = "1GB"

# -- JSON (NDJSON in gzip) -----------------------------------------------------------------
#: metadata level: compressed bytes fetched from the start, and the most they may inflate to
JSON_HEAD_BYTES = 64 * KiB
JSON_HEAD_MAX_OUTPUT = 1 * MiB
#: full level: inflate at most this much output per zlib call
INFLATE_CHUNK_BYTES = 8 * MiB
#: a line longer than this without a newline is refused
MAX_LINE_BYTES = 64 * MiB
#: decompressed bytes may reach max(ratio x compressed size, floor); beyond is a gzip bomb
MAX_EXPANSION_RATIO = 200
EXPANSION_FLOOR_BYTES = 256 * MiB
#: the union schema of a JSON file stops growing at this many columns
MAX_SCHEMA_COLUMNS = 10_000
#: the JSON union schema walks every object of the first SCHEMA_SAMPLE_AFTER lines, then only
#: objects with a new set of top-level keys plus one line in SCHEMA_SAMPLE_EVERY: walking
#: nested objects in Python costs more than parsing them. SCHEMA_SAMPLE_EVERY = 1 walks all.
SCHEMA_SAMPLE_AFTER = 10_000
SCHEMA_SAMPLE_EVERY = 64
#: nested objects deeper than this are not flattened further (recorded as "object")
MAX_SCHEMA_DEPTH = 32

# -- the isolated check path (verifier.workers) ----------------------------------------------
#: a worker checking one file is stopped after CHECK_SECONDS plus the time to read the file at
#: CHECK_MIN_BYTES_PER_SECOND: a hang in a decoder, not a slow store ([limits] check_seconds;
#: the environment's VERIFIER_CHECK_SECONDS is the default the config's key overrides)
CHECK_SECONDS = float(os.environ.get("VERIFIER_CHECK_SECONDS", "300"))
CHECK_MIN_BYTES_PER_SECOND = 1 * MiB
#: a worker whose resident memory goes past this is stopped, polled every WATCHDOG_SECONDS
#: ([limits] worker_memory_bytes; the environment's VERIFIER_WORKER_MEMORY_BYTES is the default)
WORKER_MEMORY_BYTES = int(os.environ.get("VERIFIER_WORKER_MEMORY_BYTES", str(4 * GiB)))
WATCHDOG_SECONDS = 0.05


def check_seconds(size: int) -> float:
    """The time one file's check may take before its worker is stopped."""
    return CHECK_SECONDS + size / CHECK_MIN_BYTES_PER_SECOND


#: limits an operator may set in the config's [limits] table: constant -> (key, kind); kind is
#: "size" (bytes: "64MiB", "2GiB" or an integer), "count" (an integer) or "seconds" (a duration:
#: "300s", "10m", or an integer). Documented in the README's [limits] section.
CONFIG: dict[str, tuple[str, str]] = {
    "MAX_FOOTER_BYTES": ("max_footer_bytes", "size"),
    "MAX_ROW_GROUPS": ("max_row_groups", "count"),
    "MAX_COLUMNS": ("max_columns", "count"),
    "MAX_COLUMN_CHUNKS": ("max_column_chunks", "count"),
    "MAX_ROWS": ("max_rows", "count"),
    "MAX_ROW_GROUP_BYTES": ("max_row_group_bytes", "size"),
    "MAX_LINE_BYTES": ("max_line_bytes", "size"),
    "MAX_EXPANSION_RATIO": ("max_expansion_ratio", "count"),
    "EXPANSION_FLOOR_BYTES": ("expansion_floor_bytes", "size"),
    "CHECK_SECONDS": ("check_seconds", "seconds"),
    "WORKER_MEMORY_BYTES": ("worker_memory_bytes", "size"),
}
#: constant -> its [limits] key
CONFIG_KEYS = {name: key for name, (key, _) in CONFIG.items()}


def configure(values: dict[str, int]) -> None:
    """Apply the config's [limits] (constant name -> value) to this process."""
    for name, value in values.items():
        if name in CONFIG:
            globals()[name] = value


def current() -> dict[str, int]:
    """The configurable limits as this process has them (for another process to `configure`)."""
    return {name: globals()[name] for name in CONFIG}


def key(name: str) -> str:
    """The [limits] key of constant `name`, as messages print it: ``[limits] max_line_bytes``."""
    return f"[limits] {CONFIG_KEYS[name]}"


def count(n: int) -> str:
    """100000 -> '100,000': for messages that name a count limit."""
    return f"{n:,}"


def human(n: int) -> str:
    """1073741824 -> '1 GiB': for messages that name a limit."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def human_approx(n: int) -> str:
    """70254592 -> '67.0 MiB': a measured size, for messages."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def expansion_limit(compressed_size: int) -> int:
    """The most a gzip file of `compressed_size` bytes may inflate to before it is a bomb."""
    return max(MAX_EXPANSION_RATIO * compressed_size, EXPANSION_FLOOR_BYTES)
