"""What the API and the dashboard both do: plan a restore. Bad input is an ApiError, which the API answers as JSON and the dashboard shows."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from verifier import redact
from verifier.config import Config
from verifier.errors import CatalogError, CatalogLocked, VerifierError
from verifier.service.access import CatalogReader


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


def restore_plan_dict(
    app: FastAPI, dataset_id: str, as_of: str, destination: str | None, allow_unverified: bool
) -> Any:
    """Shared by the API and the dashboard's form. Raises ApiError for bad input and unknown datasets."""
    from verifier.restore import asof

    try:
        asof.check(as_of)
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, "bad as_of", str(exc)) from None
    try:
        from verifier.restore import plan as planmod
    except ImportError:
        raise ApiError(501, "not available", "restore planning is not in this build of verifier") from None
    config: Config = app.state.config
    reader: CatalogReader = app.state.reader
    if not reader.exists:
        raise ApiError(404, "unknown dataset", f"no exports of dataset {dataset_id!r} in the catalog")
    if destination is not None and destination not in {d.name for d in config.destinations}:
        raise ApiError(400, "unknown destination", f"{destination!r} is not configured")

    def make(_catalog: Any) -> Any:
        when = asof.resolve(config, dataset_id, as_of, destination=destination, allow_unverified=allow_unverified)
        p = planmod.plan(config, dataset_id, when, destination=destination, allow_unverified=allow_unverified)
        if not any(a.recorded for a in p.attempts):
            raise ApiError(404, "unknown dataset", f"no exports of dataset {dataset_id!r} in the catalog")
        return planmod.to_dict(p)

    try:
        return reader.read(make, empty=None)
    except (CatalogLocked, CatalogError):
        raise
    except VerifierError as exc:  # ConfigError: a destination neither configured nor recorded
        raise ApiError(400, "no plan", redact.scrub(str(exc))) from None
