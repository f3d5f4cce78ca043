"""mkdocs hook: the configuration and CLI references are generated from the code at build time.

`laravel_queue.cli.reference` asks the settings loader and the click app themselves, so
the pages cannot drift from what the command does.
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from laravel_queue.cli.reference import cli_reference, configuration_reference

GENERATED = {
    "reference/configuration.md": configuration_reference,
    "reference/cli.md": cli_reference,
}


def on_files(files: Files, config: Any) -> Files:
    for path, generate in GENERATED.items():
        files.append(File.generated(config, path, content=generate()))
    return files
