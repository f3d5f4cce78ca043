"""Which Laravel version's rules are in force, and where that came from.

`LARAVEL_VERSION` (CLI override, process environment or `.env`) wins; otherwise, when
`--app` points at a Laravel project, the version is read from it so users need not set
it: `composer.lock`'s `laravel/framework` package first (what `composer install` put in
`vendor/`), then `vendor/laravel/framework/src/Illuminate/Foundation/Application.php`'s
`VERSION` constant. Neither file is executed: both are read as text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERSION = "12"
APPLICATION_PHP = Path("vendor/laravel/framework/src/Illuminate/Foundation/Application.php")
_VERSION_CONSTANT = re.compile(r"""const\s+VERSION\s*=\s*['"]v?([0-9][0-9.]*)[^'"]*['"]""")
_COMPOSER_VERSION = re.compile(r"v?([0-9]+(?:\.[0-9]+){0,2})")


@dataclass(frozen=True)
class VersionSource:
    """The raw version text and a human description of where it was found."""

    raw: str
    source: str


def detect_app_version(app_path: Path) -> VersionSource | None:
    """The framework version of the Laravel app at `app_path`, or None when it cannot be told."""
    return _from_composer_lock(app_path / "composer.lock") or _from_application_php(app_path / APPLICATION_PHP)


def choose_version(env_value: str | None, app_path: Path | None) -> VersionSource:
    """`LARAVEL_VERSION` if set, else the app's own version, else Laravel 12's rules."""
    if env_value:
        return VersionSource(env_value, "LARAVEL_VERSION")
    detected = detect_app_version(app_path) if app_path is not None else None
    if detected is not None:
        return detected
    return VersionSource(DEFAULT_VERSION, "default (no LARAVEL_VERSION and no Laravel app to read it from)")


def _from_composer_lock(path: Path) -> VersionSource | None:
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    packages = lock.get("packages") if isinstance(lock, dict) else None
    for package in packages if isinstance(packages, list) else []:
        if isinstance(package, dict) and package.get("name") == "laravel/framework":
            match = _COMPOSER_VERSION.match(str(package.get("version", "")))
            if match:
                return VersionSource(match.group(1), f"{path} (laravel/framework {package['version']})")
    return None


def _from_application_php(path: Path) -> VersionSource | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _VERSION_CONSTANT.search(text)
    return VersionSource(match.group(1), f"{path} (Application::VERSION {match.group(1)})") if match else None
