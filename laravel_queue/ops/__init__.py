"""Operations: failed-job retries, queue monitoring, metrics and tracing.

The CLI commands in `laravel_queue.cli.failed` and `laravel_queue.cli.admin` are
thin shells over these modules, so scripts can do the same work without a shell.
"""
