"""Input checks shared by every backend, so that all databases accept and refuse the same input.

Limits follow the narrowest database: MySQL indexes names and tag keys as VARCHAR(255) and tag
values as VARCHAR(500) (one composite index must stay under 3072 bytes); PostgreSQL cannot store
NUL characters; no driver can encode lone surrogates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry_core.errors import InvalidInputError

NAME_MAX = 255
TAG_KEY_MAX = 255
TAG_VALUE_MAX = 500
DESCRIPTION_MAX = 65_535


def _text(what: str, value: Any, limit: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, not {type(value).__name__}")
    if not value and not allow_empty:
        raise InvalidInputError(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidInputError(f"{what} is {len(value)} characters long; the limit is {limit}")
    if "\x00" in value:
        raise InvalidInputError(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{what} is not valid Unicode (lone surrogate)") from None
    return value


def name(value: Any) -> str:
    """A model name: 1-255 characters, compared byte-exactly."""
    return _text("model name", value, NAME_MAX)


def description(value: Any) -> str | None:
    """An optional description."""
    return None if value is None else _text("description", value, DESCRIPTION_MAX, allow_empty=True)


def tag_key(value: Any) -> str:
    return _text("tag key", value, TAG_KEY_MAX)


def tag_value(value: Any) -> str | None:
    return None if value is None else _text("tag value", value, TAG_VALUE_MAX, allow_empty=True)


def tags(value: Mapping[str, Any] | None) -> dict[str, str | None]:
    """A tag mapping (None: no tags)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"tags must be a mapping of str to str, not {type(value).__name__}")
    return {tag_key(k): tag_value(v) for k, v in value.items()}


def version(value: Any) -> str:
    """A version number as stored: decimal digits without leading zeros ("7"; 7 is accepted)."""
    if isinstance(value, bool):
        raise InvalidInputError("a version is a positive number such as 3 or '3'")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        raise InvalidInputError(f"a version is a positive number such as 3 or '3', not {value!r}")
    if number < 1:
        raise InvalidInputError(f"versions start at 1, not {value!r}")
    return str(number)
