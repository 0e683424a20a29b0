"""Log output on stderr: text or JSON lines, quieter or louder, always scrubbed of secrets.

On a terminal the progress bar tells what is going on, so the default is warnings only; under cron
or systemd (stderr not a terminal) a run's INFO lines — one per destination and per dataset, with
counts — are shown by default, so that the mail or the journal says what was checked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from verifier import redact

_LEVELS = [logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact.scrub(record.getMessage()),
        }
        if record.exc_info:
            doc["exception"] = redact.scrub(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


def level_for(verbose: int, quiet: int, tty: bool) -> int:
    base = 1 if tty else 2  # WARNING on a terminal, INFO otherwise
    return _LEVELS[max(0, min(base + verbose - quiet, len(_LEVELS) - 1))]


def configure(verbose: int = 0, quiet: int = 0, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(redact.ScrubFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    level = level_for(verbose, quiet, sys.stderr.isatty())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # verifier's own lines at the chosen level; libraries' chatter only when asked for debug
    root.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
    logging.getLogger("verifier").setLevel(level)
