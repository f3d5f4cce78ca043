"""Failed-job providers (`queue.failed.driver`), sharing Laravel's storage formats."""
