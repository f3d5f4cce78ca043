"""`queue:work --in-flight N`: many jobs reserved and running at once on one asyncio loop.

A layer beside the sync loop (`laravel_queue.worker.worker`), sharing its per-job rules:
`sources` reserves jobs (redis.asyncio pipelines of the driver's own pop script, or the
sync driver on one thread), `jobrun` runs one job as Laravel's Worker::process does with
an awaited handler and per-job timeouts, `watch` guards the loop itself, and `worker`
decides when to reserve and when to stop.
"""

from laravel_queue.worker.inflight.worker import InFlightWorker

__all__ = ["InFlightWorker"]
