"""NDJSON in gzip (``.json.gz``): head and trailer (metadata level), every line (full level).

Full level is one streaming pass: the compressed bytes are hashed, inflated in bounded
chunks (multi-member gzip included), split into lines and parsed, with bounds on line
length and on total expansion (gzip bombs).
"""

from __future__ import annotations

import codecs
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from verifier.checks import Outcome, limits, read_exact
from verifier.checks.formats import GZIP_MAGIC, describe

try:  # orjson is optional: faster, same verdicts
    import orjson

    _loads: Callable[[str], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.JSONDecoder().decode  # skips json.loads' type dispatch

REEXPORT = "re-export this dataset run"
CORRUPT = "json.corrupt"
FORMAT = "file.unexpected_format"
TOO_LARGE = "file.too_large"
#: deflate emits at most 258 bytes per 2 bits: no gzip member inflates more than this (a fact, not a limit)
DEFLATE_MAX_RATIO = 1032

_JSON_TYPES: dict[type, str] = {
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    list: "array",
    type(None): "null",
}


_MAX_SHAPES = 10_000


class Corrupt(Exception):
    """Raised inside the line scanner to stop at the first corruption."""


class OverLimit(Exception):
    """Raised inside the line scanner at a limit (a line longer than MAX_LINE_BYTES) when what was
    seen of the line can still be a JSON object: not damage, the rest is just not parsed."""


# bytes that JSON text never holds raw: control characters other than the whitespace \t \r
# (\n ends the line). A line holding one is not JSON, however long it is
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BOM = codecs.BOM_UTF8


# -- schema ------------------------------------------------------------------------------------
class _Node:
    """One key path of the union schema; `last` is the last leaf type seen there (a cheap
    identity test skips the union logic on the common case: the same type as before)."""

    __slots__ = ("kids", "last", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.kids: dict[str, _Node] = {}
        self.last: type | None = None


class SchemaUnion:
    """The union of dotted key paths and JSON types over many objects.

    Nested objects are flattened (``web.webPageDetails.URL``); arrays are "array"; null
    yields to any other type; two other types become "a|b". At most MAX_SCHEMA_COLUMNS paths
    are tracked, so a file of ever-new keys cannot grow it without bound.
    """

    def __init__(self) -> None:
        self.columns: dict[str, str] = {}
        self._root: dict[str, _Node] = {}
        self._nodes = 0

    def add(self, obj: dict[str, Any]) -> None:
        self._walk(obj, self._root, "", 0)

    def _walk(self, obj: dict[str, Any], kids: dict[str, _Node], prefix: str, depth: int) -> None:
        for k, v in obj.items():
            node = kids.get(k)
            if node is None:
                if self._nodes >= limits.MAX_SCHEMA_COLUMNS:
                    continue
                node = kids[k] = _Node(prefix + k)
                self._nodes += 1
            t = type(v)
            if t is dict and v and depth < limits.MAX_SCHEMA_DEPTH:
                self._walk(v, node.kids, node.path + ".", depth + 1)
            elif t is not node.last:
                node.last = t
                self._type(node.path, _JSON_TYPES.get(t, "object"))

    def _type(self, path: str, name: str) -> None:
        old = self.columns.get(path)
        if old is None or old == "null":
            self.columns[path] = name
        elif name != "null" and name not in old.split("|"):
            self.columns[path] = "|".join(sorted({*old.split("|"), name}))


def _kind(obj: Any) -> str:
    return "object" if isinstance(obj, dict) else _JSON_TYPES.get(type(obj), type(obj).__name__)


# -- metadata level ----------------------------------------------------------------------------
def inspect(read: Callable[[int, int], bytes], size: int, out: Outcome) -> None:
    """Gzip magic, the head inflated and its first lines parsed, the trailer's declared size."""
    (_, n), *trailer = first_ranges(size)
    head = read_exact(read, 0, n, out)
    if not magic_ok(head, out):
        return
    if size < 20:
        out.add(CORRUPT, f"only {size} bytes, too small to be a gzip stream (at least 20); truncated — {REEXPORT}")
        return
    tail = read_exact(read, *trailer[0], out) if trailer else head[-8:]
    isize = struct.unpack("<I", tail[4:])[0]
    if isize > DEFLATE_MAX_RATIO * size:
        out.add(
            CORRUPT,
            f"its last 8 bytes, read as the gzip trailer, declare {isize} bytes uncompressed from {size} "
            f"compressed, more than deflate can expand to ({DEFLATE_MAX_RATIO}×): they are no trailer, the file "
            f"is truncated (a partial upload?) or damaged — {REEXPORT}",
        )
        return
    over = isize > limits.expansion_limit(size)
    d = zlib.decompressobj(31)
    try:
        text = d.decompress(head, limits.JSON_HEAD_MAX_OUTPUT)
    except zlib.error as exc:
        out.add(CORRUPT, f"the start of the gzip stream does not decompress ({_zmsg(exc)}); damaged — {REEXPORT}")
        return
    whole = n == size and not d.unconsumed_tail
    if whole and not d.eof and len(text) < limits.JSON_HEAD_MAX_OUTPUT:
        out.add(CORRUPT, f"the gzip stream ends before its end-of-member (truncated upload?) — {REEXPORT}")
        return
    ended = d.eof and whole and not d.unused_data
    unfinished = b""
    if not ended:
        cut = text.rfind(b"\n")
        text, unfinished = (text[: cut + 1], text[cut + 1 :]) if cut >= 0 else (b"", text)
    scan = LineScanner(schema_from_first_only=True)
    try:
        scan.feed(text)
        if ended:
            scan.finish()
        if over:  # a bomb of junk is damage; one that starts as JSON is beyond a limit
            scan.check_unfinished([unfinished], f"line {scan.lines + 1}")
    except Corrupt as exc:
        out.add(CORRUPT, str(exc))
        return
    except OverLimit as exc:
        out.add(TOO_LARGE, f"{exc}; a full read will tell more")
        return
    if over:
        out.add(TOO_LARGE, _trailer_over(isize, size))
        return
    out.schema = scan.union.columns if scan.records else None


def first_ranges(size: int) -> list[tuple[int, int]]:
    """The reads inspect makes: the head, then (unless the head is the whole file) the trailer."""
    n = min(size, limits.JSON_HEAD_BYTES)
    return [(0, n)] if n == size else [(0, n), (size - 8, size)]


def magic_ok(head: bytes, out: Outcome) -> bool:
    if head[:2] != GZIP_MAGIC:
        out.add(
            FORMAT,
            f"named .json.gz but its first bytes are {describe(head)}, not gzip; check the destination's "
            "format in the config and the dataflow's export settings",
        )
        return False
    if len(head) >= 3 and head[2] != 8:
        out.add(CORRUPT, f"gzip header names compression method {head[2]}, not 8 (deflate); damaged — {REEXPORT}")
        return False
    return True


def _expansion_key(size: int) -> str:
    """The [limits] key that sets the expansion limit of a file of `size` compressed bytes."""
    by_ratio = limits.MAX_EXPANSION_RATIO * size >= limits.EXPANSION_FLOOR_BYTES
    return limits.key("MAX_EXPANSION_RATIO" if by_ratio else "EXPANSION_FLOOR_BYTES")


def _expansion_limit_text(size: int) -> str:
    return (
        f"the {limits.human_approx(limits.expansion_limit(size))} expansion limit "
        f"({limits.MAX_EXPANSION_RATIO}× its {size} compressed bytes, at least "
        f"{limits.human(limits.EXPANSION_FLOOR_BYTES)})"
    )


def _trailer_over(isize: int, size: int) -> str:
    return (
        f"its gzip trailer declares {isize} bytes uncompressed ({isize / size:.0f}× its {size} compressed "
        f"bytes), more than {_expansion_limit_text(size)}, and its first lines are JSON objects: a full read "
        "parses lines only up to the limit (it still decompresses the rest, and reports damage there, or a "
        f"truncated file whose last bytes are no trailer), so it is not fully verified; raise "
        f"{_expansion_key(size)} in the config to parse it all"
    )


def _expansion(scan: LineScanner, size: int) -> str:
    """Past the expansion limit: the unfinished line must still look like JSON (else Corrupt)."""
    where = f"line {scan.lines + 1} (unfinished where the file inflated past its expansion limit)"
    scan.check_unfinished(scan.pending(), where)
    return (
        f"it inflates past {_expansion_limit_text(size)} after line {scan.lines}: the lines before were "
        f"parsed, the rest was not; raise {_expansion_key(size)} in the config to parse it all"
    )


def _zmsg(exc: zlib.error) -> str:
    text = str(exc)
    if "incorrect data check" in text:
        return "the gzip trailer's CRC32 does not match the data"
    if "incorrect length check" in text:
        return "the gzip trailer's ISIZE does not match the data"
    return text.split(": ", 1)[-1]


# -- lines -------------------------------------------------------------------------------------
class LineScanner:
    """Splits inflated bytes into lines, parses each as a JSON object, counts and types them.

    `feed` takes any chunk; `finish` handles a last line without a newline. Raises Corrupt
    at the first bad line, naming its number.
    """

    def __init__(self, *, schema_from_first_only: bool = False) -> None:
        self.records = 0
        self.lines = 0  # complete lines seen so far
        self.union = SchemaUnion()
        self._first_only = schema_from_first_only
        self._shapes: set[tuple[str, ...]] = set()
        self._pending: list[bytes] = []
        self._pending_len = 0

    def feed(self, chunk: bytes) -> None:
        nl = chunk.rfind(b"\n")
        if nl < 0:
            self._pending.append(chunk)
            self._pending_len += len(chunk)
            self._check_length(self._pending_len)
            return
        if self._pending:
            first = chunk.find(b"\n")
            self._check_length(self._pending_len + first, chunk[:first])
            block = b"".join(self._pending) + chunk[:nl]
            self._pending, self._pending_len = [], 0
        else:
            block = chunk[:nl]
        self._lines(block)
        rest = chunk[nl + 1 :]
        if rest:
            self._pending, self._pending_len = [rest], len(rest)
            self._check_length(len(rest))

    def finish(self) -> None:
        if self._pending:
            block = b"".join(self._pending)
            self._pending, self._pending_len = [], 0
            self._lines(block)

    def pending(self) -> list[bytes]:
        """The start of the line not finished yet."""
        return list(self._pending)

    def _check_length(self, n: int, more: bytes = b"") -> None:
        if n > limits.MAX_LINE_BYTES:
            where = f"line {self.lines + 1} exceeds {limits.human(limits.MAX_LINE_BYTES)} without a newline"
            self.check_unfinished([*self._pending, more], f"{where}, and it")
            raise OverLimit(
                f"{where}: its start is a well-formed beginning of a JSON object, the rest of the file was not "
                f"parsed; raise {limits.key('MAX_LINE_BYTES')} in the config to parse it (a line is held in "
                "memory whole: worker_memory_bytes must allow it)"
            )

    def check_unfinished(self, pieces: Iterable[bytes], where: str) -> None:
        """Raise Corrupt unless `pieces`, the start of line `self.lines + 1`, can begin a JSON object:
        a `{` first (after whitespace), no raw control byte, valid UTF-8 so far."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        started = False
        column = 0
        for piece in pieces:
            if not started:
                lead = piece[len(_BOM) :] if self.lines == 0 and column == 0 and piece.startswith(_BOM) else piece
                lead = lead.lstrip(b" \t\r")
                if lead:
                    started = True
                    if lead[0] != 0x7B:
                        raise Corrupt(f"{where} is not a JSON object: it starts with {_byte(lead[0])} — {REEXPORT}")
            m = _CONTROL.search(piece)
            if m:
                raise Corrupt(
                    f"{where} is not JSON: it holds the control byte {piece[m.start()]:#04x} at column "
                    f"{column + m.start() + 1} — {REEXPORT}"
                )
            try:
                decoder.decode(piece)
            except UnicodeDecodeError as exc:
                raise Corrupt(
                    f"{where} is not valid UTF-8 (byte {piece[exc.start]:#04x} at column {column + exc.start + 1}) "
                    f"— {REEXPORT}"
                ) from None
            column += len(piece)

    def _lines(self, block: bytes) -> None:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = self.lines + block.count(b"\n", 0, exc.start) + 1
            column = exc.start - block.rfind(b"\n", 0, exc.start)
            raise Corrupt(
                f"line {where} is not valid UTF-8 (byte {block[exc.start]:#04x} at column {column}) — {REEXPORT}"
            ) from None
        if self.lines == 0 and text.startswith("\ufeff"):
            text = text[1:]
        lines = text.split("\n")
        base = self.lines
        loads, add, shapes = _loads, self.union.add, self._shapes
        # the union schema walks every object of the first SCHEMA_SAMPLE_AFTER lines; after
        # that, objects with new top-level keys and one in SCHEMA_SAMPLE_EVERY (the walk costs
        # more than parsing, see limits)
        if self._first_only:
            after, every, track = 1, 1 << 62, False
        else:
            after, every, track = limits.SCHEMA_SAMPLE_AFTER, max(1, limits.SCHEMA_SAMPLE_EVERY), True
        records = self.records
        n = base
        try:
            for line in lines:
                n += 1
                try:
                    obj = loads(line)
                except ValueError as exc:
                    if line.isspace() or not line:
                        continue  # blank lines are tolerated
                    raise Corrupt(f"line {n} is not valid JSON ({_short(exc)}) — {REEXPORT}") from None
                if type(obj) is not dict:
                    raise Corrupt(f"line {n} is a JSON {_kind(obj)}, not an object — {REEXPORT}")
                records += 1
                if records <= after or not records % every:
                    add(obj)
                elif track:
                    keys = tuple(obj)
                    if keys not in shapes and len(shapes) < _MAX_SHAPES:
                        shapes.add(keys)
                        add(obj)
        finally:
            self.records = records
        self.lines = base + len(lines)


def _byte(b: int) -> str:
    return repr(chr(b)) if 0x20 < b < 0x7F else f"byte {b:#04x}"


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


# -- full level --------------------------------------------------------------------------------
def inflate(blocks: Iterable[bytes], out_chunk: int) -> Iterator[bytes]:
    """Inflate a (possibly multi-member) gzip stream; each yielded chunk is <= out_chunk bytes.

    Raises Corrupt on a damaged stream, a CRC/ISIZE mismatch, garbage after the last member,
    or a stream that ends inside a member. NUL padding after the last member is accepted
    (as the gzip tool does).
    """
    d = zlib.decompressobj(31)
    started = False  # has the current member consumed input?
    padding = False
    member = 1
    for block in blocks:
        buf = block
        while buf:
            if padding:
                if buf.strip(b"\0"):
                    raise Corrupt(f"unexpected bytes after the end of gzip member {member - 1}; damaged — {REEXPORT}")
                break
            if not started and member > 1 and buf[0] != 0x1F:
                if buf[0] == 0:
                    padding = True
                    continue
                raise Corrupt(f"unexpected bytes after the end of gzip member {member - 1}; damaged — {REEXPORT}")
            started = True
            try:
                while True:
                    chunk = d.decompress(buf, out_chunk)
                    if chunk:
                        yield chunk
                    if d.eof:
                        break
                    buf = d.unconsumed_tail
                    if not buf and len(chunk) < out_chunk:
                        break
            except zlib.error as exc:
                raise Corrupt(f"gzip member {member} is damaged: {_zmsg(exc)} — {REEXPORT}") from None
            if d.eof:
                buf = d.unused_data
                d = zlib.decompressobj(31)
                started = False
                member += 1
            else:
                buf = b""
    if started and not d.eof:
        raise Corrupt(f"the gzip stream ends inside member {member} (truncated upload?) — {REEXPORT}")
    if member == 1 and not started:
        raise Corrupt(f"the gzip stream is empty — {REEXPORT}")


def scan_stream(blocks: Iterable[bytes], size: int, out: Outcome) -> None:
    """Full level: inflate every member, parse every line. Consumes `blocks` to the end even
    after a corruption, so the caller's hashes cover every byte.

    Past a limit (a line over MAX_LINE_BYTES, more output than `limits.expansion_limit`) lines
    are no longer parsed but the stream is still inflated to its end: damage anywhere in it is
    json.corrupt, a whole stream beyond a limit file.too_large (not fully verified)."""
    it = iter(blocks)
    limit = limits.expansion_limit(size)
    chunk_max = max(1, min(limits.INFLATE_CHUNK_BYTES, limits.MAX_LINE_BYTES))
    scan = LineScanner()
    total = 0
    over: str | None = None
    try:
        for chunk in inflate(it, chunk_max):
            total += len(chunk)
            if over is not None:
                continue
            if total > limit:
                over = _expansion(scan, size)
                continue
            try:
                scan.feed(chunk)
            except OverLimit as exc:
                over = str(exc)
        if over is None:
            scan.finish()
    except Corrupt as exc:
        out.add(CORRUPT, str(exc))
        for _ in it:  # drain: the hashes need every byte
            pass
        return
    if over is not None:
        out.add(
            TOO_LARGE,
            f"{over}. The whole gzip stream was decompressed ({total} bytes, {total / max(size, 1):.0f}× its "
            "compressed size) and its checks pass: it is not damaged, but it is not fully verified and no "
            "record count is recorded",
        )
        return
    out.record_count = scan.records
    out.schema = scan.union.columns
