"""Answers "is this a pydantic model?" without importing pydantic.

A `BaseModel` instance or subclass can only exist once `pydantic.main` has been imported
(by the code that defined the model), so until then the answer is no, for one dict
lookup. Keeps pydantic (~80 ms to import) off the paths that never meet a model, such as
`laravel-queue dispatch` of a PHP class.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["is_model_class", "is_model_instance"]


def is_model_instance(value: Any) -> TypeGuard[BaseModel]:
    """`isinstance(value, pydantic.BaseModel)`, False while pydantic is not loaded."""
    pydantic_main = sys.modules.get("pydantic.main")
    return pydantic_main is not None and isinstance(value, pydantic_main.BaseModel)


def is_model_class(cls: type) -> TypeGuard[type[BaseModel]]:
    """`issubclass(cls, pydantic.BaseModel)`, False while pydantic is not loaded."""
    pydantic_main = sys.modules.get("pydantic.main")
    return pydantic_main is not None and issubclass(cls, pydantic_main.BaseModel)
