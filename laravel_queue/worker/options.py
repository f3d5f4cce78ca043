"""`queue:work` options with Laravel's names and defaults (WorkerOptions.php)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class WorkerOptions:
    name: str = "default"
    backoff: str = "0"
    memory: int = 128
    timeout: int = 60
    sleep: float = 3.0
    max_tries: int = 1
    force: bool = False
    stop_when_empty: bool = False
    max_jobs: int = 0
    max_time: int = 0
    rest: float = 0.0
    json: bool = False
    unknown: Literal["fail", "release"] = "fail"
    verbose: bool = False
    busy_poll: int = 0  # µs a pop may spin on its reply before blocking (Python-only; Redis)
    in_flight: int = 1  # jobs reserved and running at once on one event loop (Python-only; 1 = the sync loop)
