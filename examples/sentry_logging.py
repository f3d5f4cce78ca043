"""Failed jobs in Sentry, through the `logging` module (sentry-sdk's LoggingIntegration).

laravel-queue writes one record per job to the `laravel_queue.jobs` logger; a failed job
is an ERROR record with the exception (`exc_info`) and the job's fields as attributes
(uuid, job_id, job, connection, queue, attempts, runtime_ms, outcome). Sentry's logging
integration turns ERROR records into events (with the stack trace) and keeps lower ones
as breadcrumbs, so nothing in the worker knows about Sentry.

Load it next to your handlers, before the worker starts:

    pip install sentry-sdk
    SENTRY_DSN=https://<key>@<org>.ingest.sentry.io/<project> \\
        laravel-queue queue:work redis --jobs app.jobs,examples.sentry_logging

sentry-sdk is not a dependency of laravel-queue: install it where you use it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

JOB_FIELDS = ("uuid", "job", "connection", "queue", "attempts", "outcome")


def tag_jobs(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Make the job's fields searchable tags (they also arrive as the event's `extra`)."""
    record = hint.get("log_record")
    if record is not None and record.name == "laravel_queue.jobs":
        tags = event.setdefault("tags", {})
        for field in JOB_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                tags[f"laravel.{field}"] = str(value)
    return event


sentry_sdk.init(
    dsn=os.environ.get("SENTRY_DSN"),
    environment=os.environ.get("APP_ENV", "production"),
    integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
    before_send=tag_jobs,
)
