"""Bus features shared with Laravel's `Illuminate\\Bus`: encrypted commands (`ShouldBeEncrypted`)."""

from laravel_queue.bus.encryption import DecryptError, Encrypter

__all__ = ["DecryptError", "Encrypter"]
