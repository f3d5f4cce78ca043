"""A schedule defined in Python that queues work for PHP workers (and runs a little Python).

    laravel-queue schedule:list --schedule examples.schedule
    laravel-queue schedule:work --schedule examples.schedule

Events with the same name (or the same job class) as an event in the Laravel app's
routes/console.php share its mutex, so only one scheduler runs each occurrence.
"""

from __future__ import annotations

import logging

from laravel_queue.schedule import Schedule

log = logging.getLogger("examples.schedule")

schedule = Schedule()

# Queue a PHP job every weekday at 08:00 (app timezone); a PHP `queue:work` runs it.
schedule.job("App\\Jobs\\SendDailyReport", {"team": 7}, queue="reports").weekdays().daily_at("08:00")

# Every five minutes, on one server only when several schedulers run.
schedule.job("App\\Jobs\\PruneStaleUploads").every_five_minutes().on_one_server()


def heartbeat() -> None:
    log.warning("scheduler alive")


# A Python callback, never overlapping itself.
schedule.call(heartbeat).every_minute().name("python-heartbeat").without_overlapping()
