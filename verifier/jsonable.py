"""Values as JSON: the one conversion for `--json` output, the HTTP API and the cells of user SQL
(`verifier sql`, `POST /api/sql`).

Times are UTC in ISO 8601 to the second with a `Z` (`2024-01-02T03:04:05Z`, `timeutil.iso`); a
time without a zone is UTC, as every time in the catalog is. Dates and times of day are ISO text,
durations seconds, decimals floats, bytes hex, anything else its text; NaN and the infinities,
which JSON cannot carry, are null.

It imports only the standard library and `verifier.timeutil` (which does too): the SQL sandbox's
child process (`catalog/sandbox_child.py`), small and emptied of secrets, converts its cells here.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from uuid import UUID

from verifier.timeutil import iso


def jsonable(v: Any) -> Any:
    """`v` as JSON can carry it, whole."""
    return convert(v, None)[0]


def convert(v: Any, max_chars: int | None) -> tuple[Any, bool]:
    """`v` as JSON can carry it, with every text (and bytes' hex) cut to `max_chars` if given;
    the flag says whether anything was cut."""
    if v is None or isinstance(v, bool | int):
        return v, False
    if isinstance(v, float):
        return (v if math.isfinite(v) else None), False
    if isinstance(v, str):
        return (v[:max_chars], True) if max_chars is not None and len(v) > max_chars else (v, False)
    if isinstance(v, datetime):
        return iso(v if v.tzinfo else v.replace(tzinfo=UTC)), False
    if isinstance(v, date | dtime):
        return v.isoformat(), False
    if isinstance(v, timedelta):
        return v.total_seconds(), False
    if isinstance(v, Decimal):
        return convert(float(v), max_chars)
    if isinstance(v, bytes | bytearray | memoryview):
        return _hex(v, max_chars)
    if isinstance(v, UUID):
        return str(v), False
    if isinstance(v, dict):
        return _pairs(v, max_chars)
    if isinstance(v, list | tuple | set | frozenset):
        return _items(v, max_chars)
    return convert(str(v), max_chars)


def _hex(v: bytes | bytearray | memoryview, max_chars: int | None) -> tuple[str, bool]:
    if max_chars is None:
        return bytes(v).hex(), False
    h = bytes(v[: max_chars // 2 + 1]).hex()  # no more of a huge value than is kept
    return (h[:max_chars], True) if len(v) * 2 > max_chars else (h, False)


def _pairs(v: dict[Any, Any], max_chars: int | None) -> tuple[dict[str, Any], bool]:
    cut, out = False, {}
    for k, x in v.items():
        out[str(k)], c = convert(x, max_chars)
        cut = cut or c
    return out, cut


def _items(v: Any, max_chars: int | None) -> tuple[list[Any], bool]:
    cut, out = False, []
    for x in v:
        j, c = convert(x, max_chars)
        out.append(j)
        cut = cut or c
    return out, cut


def dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, sort_keys=False)
