"""Runs in the service: on the `[service] schedule` cron and on demand, one at a time, in a thread.

The HTTP side answers `POST /api/runs` with the new run's id, so `trigger` waits until the runner
has written the run row (the `GatedCatalog` reports it) or has failed to start. Shutdown stops
scheduling and sets the run's cancel event: the runner finishes the exports it is checking, records
them, abandons the ones not started (each export is written in its own transaction, so nothing is
half-recorded) and ends the run as "cancelled".
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from verifier import redact, runner
from verifier.config import Config
from verifier.cron import next_after
from verifier.errors import VerifierError
from verifier.notify import after_run
from verifier.report import run_log_line
from verifier.runner import RunOptions
from verifier.service.access import GatedCatalog, ModeGate
from verifier.timeutil import iso, utcnow

log = logging.getLogger("verifier.service")
START_WAIT_S = 60.0
TICK_S = 30.0  # re-read the clock at least this often while waiting for the next scheduled run


def service_run_options(
    config: Config, level: str | None = None, destinations: Sequence[str] = (), sample: float | None = None
) -> RunOptions:
    """A run's options: what the request asks, else the [service] level and sample."""
    return RunOptions(
        level=level or config.service.level,
        destinations=list(destinations),
        sample=sample if sample is not None else config.service.sample,
    )


class Busy(Exception):
    """A run is in progress (in this process, or another process holds the catalog's run lock)."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


class ShuttingDown(Exception):
    pass


class Scheduler:
    def __init__(self, config: Config, gate: ModeGate) -> None:
        self.config = config
        self.gate = gate
        self._one_run = threading.Lock()
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._loop_thread: threading.Thread | None = None
        self._run_thread: threading.Thread | None = None
        self.running_run_id: int | None = None
        self.next_run_at: datetime | None = None
        self.last_run: dict[str, Any] | None = None  # run_id, status, exit_code, or error of the last run started here

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        if self.config.service.schedule and self._loop_thread is None:
            self._loop_thread = threading.Thread(target=self._loop, name="verifier-schedule", daemon=True)
            self._loop_thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop scheduling; let the run in progress finish its current exports and end as cancelled."""
        self._stop.set()
        self._cancel.set()
        t = self._run_thread
        if t is not None and t.is_alive():
            log.warning("shutting down: run %s finishes the exports in progress, then stops", self.running_run_id)
            t.join(timeout)
        if self._loop_thread is not None:
            self._loop_thread.join(TICK_S + 1)

    @property
    def busy(self) -> bool:
        return self._one_run.locked()

    def status(self) -> dict[str, Any]:
        return {
            "schedule": self.config.service.schedule,
            "next_run_at": iso(self.next_run_at),
            "running_run_id": self.running_run_id,
            "last_run": self.last_run,
            "level": self.config.service.level,
            "sample": self.config.service.sample,
        }

    # -- runs -----------------------------------------------------------------------
    def trigger(self, opts: RunOptions, wait_s: float = START_WAIT_S) -> int:
        """Start a run in the background; return its id once the run row exists.

        Raises Busy (a run is going on), ShuttingDown, or whatever kept the run from starting
        (CatalogLocked, CatalogError, ConfigError)."""
        if self._stop.is_set():
            raise ShuttingDown("the service is shutting down")
        if not self._one_run.acquire(blocking=False):
            raise Busy(
                f"run {self.running_run_id or ''} is in progress; try again when it has finished", self.running_run_id
            )
        started = threading.Event()
        box: dict[str, Any] = {}

        def on_start(run_id: int) -> None:
            self.running_run_id = box["run_id"] = run_id
            started.set()

        opts = dataclasses.replace(opts, cancel=self._cancel)
        catalog = GatedCatalog(self.config.catalog_path, self.gate, on_start)

        def work() -> None:
            try:
                summary = runner.run(self.config, opts, catalog=catalog)
                self.last_run = {"run_id": summary.run_id, "status": summary.status, "exit_code": summary.exit_code}
                log.info("%s", run_log_line(summary))
                after_run(self.config.notify, self.config.catalog_path, summary)
            except Exception as exc:  # reported to the caller or logged; the service keeps going
                box["error"] = exc
                message = redact.scrub(str(exc))
                self.last_run = {"run_id": box.get("run_id"), "status": "failed", "error": message}
                if isinstance(exc, VerifierError):
                    log.error("run could not complete: %s", message)
                else:
                    log.exception("run failed: %s", message)
            finally:
                self.running_run_id = None
                self._one_run.release()
                started.set()

        self._run_thread = threading.Thread(target=work, name="verifier-run", daemon=True)
        self._run_thread.start()
        started.wait(wait_s)
        if "run_id" in box:
            return int(box["run_id"])
        err = box.get("error")
        if err is not None:
            from verifier.errors import CatalogLocked

            if isinstance(err, CatalogLocked):
                raise Busy(redact.scrub(str(err))) from None
            raise err
        raise Busy("the run did not start in time: the catalog is busy; try again in a moment")

    def _loop(self) -> None:
        expr = self.config.service.schedule
        assert expr
        while not self._stop.is_set():
            self.next_run_at = due = next_after(expr, utcnow())
            while not self._stop.is_set():
                left = (due - utcnow()).total_seconds()
                if left <= 0:
                    break
                self._stop.wait(min(left, TICK_S))
            if self._stop.is_set():
                break
            try:
                run_id = self.trigger(service_run_options(self.config))
                log.info("scheduled run %s started", run_id)
            except Busy as exc:
                log.warning("scheduled run skipped: %s", exc)
            except ShuttingDown:
                break
            except Exception as exc:  # noqa: BLE001 - the schedule goes on; the next run may succeed
                log.error("scheduled run could not start: %s", redact.scrub(str(exc)))
        self.next_run_at = None
