"""Job outcomes as `logging` records on the `laravel_queue.jobs` logger, and a JSON console format.

One record per job, from the worker's `finished` event, so Sentry, Datadog, structlog or
any `logging` handler receives failures without extra code:

* failed: ERROR, with `exc_info` (the exception that failed it, when there is one);
* released after an exception: WARNING, with `exc_info`;
* every other outcome (processed, released by the handler, given back, deleted): DEBUG.

Each record carries, as attributes (`extra`): `uuid`, `job_id`, `job` (Laravel's display
name: the job class), `connection`, `queue`, `attempts`, `runtime_ms` and `outcome`.
The worker's own messages (connection errors, timeouts) stay on `laravel_queue.worker`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from laravel_queue.job import Job
from laravel_queue.worker.lifecycle import WorkerEvents

JOBS_LOGGER = "laravel_queue.jobs"
LEVELS = {"failed": logging.ERROR, "released_after_exception": logging.WARNING}
MESSAGES = {
    "processed": "processed",
    "released": "released by its handler",
    "released_after_exception": "raised an exception and was released",
    "failed": "failed",
    "given_back": "given back to the queue (no Python handler)",
    "deleted": "deleted without running",
}
LOG_FORMATS = ("text", "json")


def job_fields(job: Job, outcome: str, runtime_ms: float) -> dict[str, Any]:
    """The record attributes that identify the job; an unreadable payload leaves them None."""
    fields: dict[str, Any] = {"connection": job.connection_name, "queue": job.queue, "outcome": outcome}
    fields["runtime_ms"] = round(runtime_ms, 2)
    try:
        fields.update(uuid=job.uuid, job_id=job.job_id, job=job.display_name, attempts=job.attempts())
    except Exception:
        fields.update(uuid=None, job_id=None, job="Unknown", attempts=None)
    return fields


class JobLog:
    """The `finished` listener that writes the records (see the module docstring)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(JOBS_LOGGER)

    def attach(self, events: WorkerEvents) -> WorkerEvents:
        events.finished.append(self.on_finished)
        return events

    def on_finished(self, job: Job, outcome: str, runtime_ms: float, exc: BaseException | None) -> None:
        level = LEVELS.get(outcome, logging.DEBUG)
        if not self.logger.isEnabledFor(level):
            return
        fields = job_fields(job, outcome, runtime_ms)
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None and level > logging.DEBUG else None
        detail = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        self.logger.log(
            level,
            "%s %s%s",
            fields["job"],
            MESSAGES.get(outcome, outcome),
            detail[:1000],
            exc_info=exc_info,
            extra=fields,
        )


_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the record's
    `extra` attributes, and `exception` (class) with `traceback` when it carries exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, timezone.utc)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_console_logging(log_format: str, *, verbose: bool) -> None:
    """`queue:work`'s stderr logging: WARNING and up (INFO with -v), as text or one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
