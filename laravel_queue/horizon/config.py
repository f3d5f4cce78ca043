"""When Horizon bookkeeping is on, and why: one decision shared by the worker, dispatch and config:show.

Precedence, first match wins:
1. `--horizon` / `--no-horizon` on the command line;
2. `HORIZON_ENABLED=true|false` in the environment or `.env`;
3. the app uses Horizon: `HORIZON_PREFIX` is set, or `--app` points at a project with
   `config/horizon.php`;
4. otherwise "payload": the worker keeps Horizon's books only for jobs whose payload
   carries the fields Horizon's RedisQueue adds at push (`pushedAt`), and dispatch adds
   nothing. An app without Horizon never has those fields, so nothing is written for it.

Only Redis queue connections are concerned: Horizon runs on Redis queues only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from laravel_queue.config import Settings

Mode = Literal["on", "off", "payload"]


@dataclass(frozen=True)
class HorizonMode:
    """What is in force: `mode`, the reason, and the keyspace Horizon's pages read."""

    mode: Mode
    reason: str
    prefix: str
    connection: str

    @property
    def worker_enabled(self) -> bool:
        return self.mode != "off"

    @property
    def producer_enabled(self) -> bool:
        return self.mode == "on"


def resolve_mode(settings: Settings, flag: bool | None = None) -> HorizonMode:
    """Decide the mode from the CLI flag (None = not given) and the settings."""
    horizon = settings.horizon
    if flag is not None:
        mode: Mode = "on" if flag else "off"
        reason = "--horizon" if flag else "--no-horizon"
    elif horizon.enabled is not None:
        mode = "on" if horizon.enabled else "off"
        reason = f"HORIZON_ENABLED={'true' if horizon.enabled else 'false'}"
    elif horizon.prefix_from_env:
        mode, reason = "on", "HORIZON_PREFIX is set"
    elif horizon.installed:
        mode, reason = "on", "config/horizon.php found in the app"
    else:
        mode, reason = "payload", "jobs whose payload Horizon prepared (pushedAt) only"
    return HorizonMode(mode=mode, reason=reason, prefix=horizon.prefix, connection=horizon.use)


def describe(settings: Settings, flag: bool | None = None) -> list[tuple[str, str]]:
    """Rows for `config:show`: the bookkeeping mode in force and why."""
    resolved = resolve_mode(settings, flag)
    return [
        ("horizon.bookkeeping", f"{resolved.mode} ({resolved.reason})"),
        ("horizon.redis_connection", f"{resolved.connection} (key prefix {resolved.prefix})"),
    ]
