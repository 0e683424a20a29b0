"""`--as-of`: a time, `now`, or `latest-intact` (the latest point a dataset can be restored to)."""

from __future__ import annotations

from datetime import UTC, datetime

from verifier.errors import TerminalError
from verifier.settings import Config
from verifier.timeutil import parse_time, utcnow

WORDS = ("now", "latest-intact")
HELP = "Point in time, UTC: ISO 8601 (2024-05-01T06:00Z), YYYYMMDDHHMM, now or latest-intact."


def check(text: str) -> str:
    """Validate the syntax early (bad arguments are refused before anything runs)."""
    if text.strip().lower() not in WORDS:
        try:
            parse_time(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a time; use ISO 8601 (2024-05-01T06:00Z), YYYYMMDDHHMM, now or latest-intact"
            ) from None
    return text


def resolve(
    config: Config, dataset: str, text: str, *, destination: str | None = None, allow_unverified: bool = False
) -> datetime:
    word = text.strip().lower()
    if word == "now":
        return utcnow()
    if word == "latest-intact":
        return latest_intact(config, dataset, destination=destination, allow_unverified=allow_unverified)
    return parse_time(text)


def latest_intact(
    config: Config, dataset: str, *, destination: str | None = None, allow_unverified: bool = False
) -> datetime:
    """The newest export time whose restore chain is intact on some destination.

    Tries the newest export first, then each earlier one recorded on any destination, and stops
    at the first intact plan: for incremental chains that is the export before the first broken
    link, for full snapshots the newest intact snapshot. (Every recorded time, not the links of
    the plan as of now: with full snapshots that plan holds only the newest one.)

    `latest_exports.latest_restorable` (catalog/views.py) answers the same question in SQL for
    `status`; this walks restore plans instead because a plan knows more than the view (unsafe
    folder and file names, files flagged inside an intact export, --allow-unverified).
    tests/test_asof.py keeps the two in agreement on a broken link, a vanished export and a
    warning, for both export modes.
    """
    from verifier.catalog.db import connect
    from verifier.restore.plan import plan

    now = plan(config, dataset, utcnow(), destination=destination, allow_unverified=allow_unverified)
    if now.intact and now.links:
        return now.links[-1].export_time
    with connect(config.catalog_path, read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT export_time FROM exports WHERE dataset_id = ? ORDER BY 1 DESC", [dataset]
        ).fetchall()
    times = [t.replace(tzinfo=UTC) for (t,) in rows]
    for t in times:
        p = plan(config, dataset, t, destination=destination, allow_unverified=allow_unverified)
        if p.intact:
            return t
    raise TerminalError(
        f"dataset {dataset!r} has no intact restore point in the catalog"
        + (" (no exports recorded)" if not times else f": all {len(times)} export(s) are on broken chains")
        + f"; see `verifier restore-plan {dataset} --as-of now` for why"
    )
