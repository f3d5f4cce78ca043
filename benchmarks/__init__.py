"""Benchmarks of laravel_queue against Laravel and the physical limits (see BENCHMARKS.md)."""
