"""Build the optional C fast path of the PHP codec; all metadata lives in pyproject.toml.

`optional=True` makes setuptools skip the extension (with a warning) when no compiler
is available, so installation always succeeds and the pure-Python codec is used.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "laravel_queue.php._speedups",
            sources=["laravel_queue/php/_speedups.c"],
            optional=True,
        )
    ]
)
