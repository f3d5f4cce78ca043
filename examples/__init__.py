"""Runnable examples: `examples.jobs` (handlers) and `examples.schedule` (a schedule)."""
