"""laravel-queue: a Python member of a Laravel application's queue and scheduler."""

__version__ = "0.1.0"
