"""`verifier serve`: scheduled runs, an HTTP API and a dashboard, from one process that owns the catalog.

`create_app(config)` builds the FastAPI application; `verifier.cli.serve_cmd` runs it under uvicorn.
"""

from __future__ import annotations

from typing import Any


def create_app(config: Any, **kwargs: Any) -> Any:
    from verifier.service.app import create_app as _create_app

    return _create_app(config, **kwargs)


__all__ = ["create_app"]
