"""What the conformance suite needs of a store under test: an area on a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from verifier.settings import Destination


class ConformanceStore(Protocol):
    """A fresh area (bucket, container, folder) on a real server of one backend's store."""

    type: str  # the backend's registry name

    @property
    def secrets(self) -> dict[str, str]:
        """The secret values the destination uses: none may appear in any output."""
        ...

    def upload(self, local_dir: Path, prefix: str = "") -> list[str]:
        """Copy every file under `local_dir` to `prefix` in the area, each in one piece."""
        ...

    def toml_snippet(self, name: str | None = None, *, prefix: str = "", **defaults: Any) -> str:
        """A ``[[destinations]]`` table for `prefix` in the area, secrets as ``${ENV}`` references."""
        ...

    def dead_dest(self, name: str = "dead") -> Destination | None:
        """A destination whose endpoint has nothing listening (None: the store cannot be unreachable)."""
        ...
