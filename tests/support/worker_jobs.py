"""Handlers the worker subprocess tests load with `--jobs tests.support.worker_jobs`.

Each records what happened in the file named by the job's `data.log`, so the test
process can wait on the file instead of sleeping.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from laravel_queue import handles


def _record(data: dict[str, Any], line: str) -> None:
    with Path(data["log"]).open("a", encoding="utf-8") as log:
        log.write(line + "\n")


@handles("Tests\\Record")
def record(job: Any, data: dict[str, Any]) -> None:
    _record(data, f"{data.get('n', '')} pid={os.getpid()} attempt={job.attempts()}")


@handles("Tests\\Sleep")
def sleep(job: Any, data: dict[str, Any]) -> None:
    _record(data, f"start {data.get('n', '')} attempt={job.attempts()}")
    time.sleep(float(data["seconds"]))
    _record(data, f"done {data.get('n', '')}")


@handles("Tests\\Busy")
def busy(job: Any, data: dict[str, Any]) -> None:
    """Keeps its process busy for `seconds`, so concurrent workers share a batch of these."""
    _record(data, f"{data.get('n', '')} pid={os.getpid()}")
    time.sleep(float(data["seconds"]))


@handles("Tests\\Boom")
def boom(job: Any, data: dict[str, Any]) -> None:
    _record(data, f"boom attempt={job.attempts()}")
    raise RuntimeError("boom")


# Handlers for the captured Laravel payloads of the mixed-run test.
@handles("App\\Jobs\\PlainScalarsJob")
def plain_scalars(job: Any, command: Any) -> None:
    assert command.count == 42


@handles("App\\Jobs\\VisibilityJob")
def visibility(job: Any, command: Any) -> None:
    raise RuntimeError(f"cannot handle {command.privateProp}")


@handles("App\\Jobs\\RetryOptionsJob")
def retry_options(job: Any, command: Any) -> None:
    raise RuntimeError("try again later")


@handles("App\\Jobs\\NestedArrayJob")
def nested_arrays(job: Any, command: Any) -> None:
    time.sleep(30)
