"""The three depths of a check, shallowest first: listing (names, sizes), metadata (footers,
gzip heads and trailers) and full (every byte). The one definition; a deeper level includes the
shallower ones."""

from __future__ import annotations

from typing import Literal, get_args

Level = Literal["listing", "metadata", "full"]
LEVELS: tuple[Level, ...] = get_args(Level)
