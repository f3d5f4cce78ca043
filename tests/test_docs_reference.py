"""The docs' generated references cover every command, option and variable the code has."""

from __future__ import annotations

import re

from laravel_queue.cli import app
from laravel_queue.cli.reference import cli_reference, configuration_reference, variable_effects


def test_cli_reference_lists_every_visible_command_and_option() -> None:
    page = cli_reference()
    group = app
    context = group.make_context("laravel-queue", [], resilient_parsing=True)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        if command.hidden:
            assert f"## `{name}`" not in page
            continue
        assert f"## `{name}`" in page
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("-") and option != "--help":
                    assert f"`{option}`" in page, (name, option)
    assert "<bool>" not in page


def test_configuration_reference_maps_variables_to_the_settings_they_move() -> None:
    effects = variable_effects()
    assert effects["QUEUE_CONNECTION"] == ["queue.default"]
    assert "database.redis.connections.default.port" in effects["REDIS_PORT"]
    assert effects["REDIS_QUEUE_BLOCK_FOR"] == ["queue.connections.redis.block_for"]
    page = configuration_reference()
    assert re.search(r"\| `DB_QUEUE_RETRY_AFTER` \| `queue.connections.database.retry_after` \| `90` \|", page)
    assert all(f"`{variable}`" in page for variable in effects)
    assert "s3cr3t" not in configuration_reference()
