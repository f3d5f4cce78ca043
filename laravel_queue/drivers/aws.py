"""boto3 clients made as Laravel's AWS connectors make them, and botocore errors made readable.

Separate from the SQS driver because the DynamoDB failed-job store needs the same two
things (client from config, errors with the secrets redacted) and neither owns them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from laravel_queue.config import ConfigError

if TYPE_CHECKING:
    from pydantic import SecretStr

__all__ = ["aws_client", "aws_errors"]


def aws_client(
    service: str,
    *,
    region: str,
    key: SecretStr | None = None,
    secret: SecretStr | None = None,
    token: SecretStr | None = None,
    endpoint: str | None = None,
) -> Any:
    """A boto3 client configured as Laravel's AWS connectors do.

    Explicit credentials are used only when both key and secret are set (Laravel's
    rule); otherwise boto3's standard chain applies (env, profile, instance role).
    Retries use botocore's "standard" mode, which retries throttling and transient
    network errors with backoff.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(f"the {service} connection needs boto3: pip install 'laravel-queue-worker[sqs]'") from None
    credentials: dict[str, str] = {}
    if key is not None and secret is not None and key.get_secret_value() and secret.get_secret_value():
        credentials = {
            "aws_access_key_id": key.get_secret_value(),
            "aws_secret_access_key": secret.get_secret_value(),
        }
        if token is not None and token.get_secret_value():
            credentials["aws_session_token"] = token.get_secret_value()
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)
    session = boto3.session.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint or None, config=config, **credentials)


@contextmanager
def aws_errors(operation: str, resource: str, secrets: Iterable[str], error: type[Exception]) -> Iterator[None]:
    """Turn botocore failures into `error(operation, resource, code, message)`, secrets redacted."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        details = exc.response.get("Error", {})
        code = str(details.get("Code") or "Unknown")
        message = str(details.get("Message") or "")
        raise error(operation, resource, code, _redact(message, secrets)) from None
    except BotoCoreError as exc:
        raise error(operation, resource, type(exc).__name__, _redact(str(exc), secrets)) from None


def _redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "********")
    return text
