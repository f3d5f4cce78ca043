"""The one exception the decoder lets escape."""

from __future__ import annotations

from laravel_queue.errors import PayloadError


class PhpUnserializeError(PayloadError, ValueError):
    """Malformed or unsupported PHP-serialized data.

    `offset` is the byte offset in the input where the problem was found, so a
    broken payload can be located without re-parsing it by hand.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset
        self.reason = message

    def __reduce__(self) -> tuple[type[PhpUnserializeError], tuple[str, int]]:
        return (type(self), (self.reason, self.offset))
