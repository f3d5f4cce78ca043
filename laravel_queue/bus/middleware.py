"""Former home of the job middleware; they live in `laravel_queue.middleware` now.

Re-exported here so older imports keep working; there is one implementation of each.
"""

from __future__ import annotations

from laravel_queue.middleware.overlapping import OVERLAP_PREFIX, overlap_key, without_overlapping
from laravel_queue.middleware.skip import SKIP_IF_BATCH_CANCELLED, SkipIfBatchCancelled

__all__ = ["OVERLAP_PREFIX", "SKIP_IF_BATCH_CANCELLED", "SkipIfBatchCancelled", "overlap_key", "without_overlapping"]
