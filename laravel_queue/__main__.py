"""`python -m laravel_queue` runs the CLI."""

from laravel_queue.cli import main

main()
