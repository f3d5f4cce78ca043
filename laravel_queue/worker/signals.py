"""Laravel's worker signals: SIGTERM/SIGINT/SIGQUIT stop after the current job,
SIGUSR2 pauses, SIGCONT resumes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def install_signal_handlers(
    *, on_quit: Callable[[], None], on_pause: Callable[[], None], on_resume: Callable[[], None]
) -> bool:
    """Install the handlers (main thread only, as Python requires); False when not installed."""
    if threading.current_thread() is not threading.main_thread():
        return False

    def handler(action: Callable[[], None]) -> Callable[[int, Any], None]:
        return lambda signum, frame: action()

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler(on_quit))
    signal.signal(signal.SIGUSR2, handler(on_pause))
    signal.signal(signal.SIGCONT, handler(on_resume))
    return True
