"""Python handlers for jobs that a Laravel application dispatches with `dispatch(...)`.

Work them next to (or instead of) `php artisan queue:work`:

    laravel-queue queue:work redis --jobs examples.jobs

Two handler forms, both keyed by the PHP class name Laravel queued:

* a function `fn(job, command)`: `command` is the PHP job object, read by property
  name whatever its visibility;
* a pydantic model with `handle()`: built from the job's properties, so a payload
  that does not fit fails with a message naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from laravel_queue import handles


@handles("App\\Jobs\\ProcessPodcast")
def process_podcast(job: Any, command: Any) -> None:
    """`ProcessPodcast` uses SerializesModels: `podcast` arrives as a `laravel_queue.models.ModelIdentifier`."""
    podcast = command.podcast
    print(
        f"Processing podcast #{podcast.id} ({podcast.class_name}) from [{job.queue}], attempt {job.attempts()}",
        flush=True,
    )


@handles("App\\Jobs\\PlainScalarsJob")
class PlainScalars(BaseModel):
    """The public properties of `App\\Jobs\\PlainScalarsJob`, validated like any pydantic model."""

    name: str
    count: int
    ratio: float
    flag: bool
    nothing: None = None
    negative: int
    big: float

    def handle(self) -> None:
        print(f"PlainScalarsJob: {self.name!r} count={self.count} ratio={self.ratio}", flush=True)
