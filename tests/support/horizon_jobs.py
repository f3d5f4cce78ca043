"""Handlers for the Horizon tests: the acceptance app's ControlledJob modes and ModelJob.

`mode` is what the job does: ok, fail, fail-first (fails on attempt 1), release
(releases itself for 1 second), fixed-after-retry (fails until `FIXED` holds its tag).
"""

from __future__ import annotations

from typing import Any

from laravel_queue import handles

FIXED: set[str] = set()


@handles("App\\Jobs\\ControlledJob")
def controlled(job: Any, command: Any) -> None:
    mode, tag = command["mode"], command["tag"]
    if mode == "fail" or (mode == "fail-first" and job.attempts() == 1):
        raise RuntimeError(f"ControlledJob {tag} failed on attempt {job.attempts()}")
    if mode == "fixed-after-retry" and tag not in FIXED:
        raise RuntimeError(f"ControlledJob {tag} is not fixed yet")
    if mode == "release":
        job.release(1)


@handles("App\\Jobs\\ModelJob")
def model_job(job: Any, command: Any) -> None:
    """Reads nothing from the database: the Horizon tags come from the payload."""
