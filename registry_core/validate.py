"""Input checks shared by every backend, so that all databases accept and refuse the same input.

Limits follow the narrowest database: MySQL indexes names and tag keys as VARCHAR(255) and tag
values as VARCHAR(500) (one composite index must stay under 3072 bytes); PostgreSQL cannot store
NUL characters; no driver can encode lone surrogates.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from registry_core.errors import InvalidInputError

NAME_MAX = 255
TAG_KEY_MAX = 255
TAG_VALUE_MAX = 500
DESCRIPTION_MAX = 65_535
#: tags, metrics or parents in one call: each kind goes in one INSERT of at most this many rows
MAX_ITEMS = 1000


def _count(what: str, n: int) -> None:
    if n > MAX_ITEMS:
        raise InvalidInputError(f"{n} {what} in one call; the limit is {MAX_ITEMS}")


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
    _count("tags", len(value))
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


def alias(value: Any) -> str:
    """An alias such as "champion": 1-255 characters, not only digits (those are versions)."""
    text = _text("alias", value, NAME_MAX)
    if text.isdigit():
        raise InvalidInputError(f"alias {text!r} looks like a version number; use a word")
    return text


def metrics(value: Mapping[str, Any] | None) -> dict[str, float]:
    """Named finite numbers (None: no metrics) stored as doubles; bools are refused, other
    real numbers become floats, and -0.0 becomes 0.0."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"metrics must be a mapping of str to float, not {value!r}")
    _count("metrics", len(value))
    out: dict[str, float] = {}
    for k, v in value.items():
        key = _text("metric name", k, TAG_KEY_MAX)
        # numbers.Real: int, float, Fraction, and NumPy's scalars, which register there
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise InvalidInputError(f"metric {key!r} must be a number, not {_short(v)}")
        try:
            number = float(v)
        except OverflowError:  # an int beyond the largest double (about 1.8e308)
            number = math.inf
        if not math.isfinite(number):
            raise InvalidInputError(f"metric {key!r} must be a finite double, not {_short(v)}")
        out[key] = number + 0.0  # -0.0 becomes 0.0: not every database keeps the sign of zero
    return out


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 64:  # repr of a huge int can fail
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parents(value: Iterable[Any] | None) -> list[tuple[str, str]]:
    """(model name, version) pairs, duplicates dropped, order kept."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidInputError("parents must be a list of (name, version) pairs")
    out: list[tuple[str, str]] = []
    for item in value:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InvalidInputError(f"a parent is a (name, version) pair, not {item!r}")
        pair = (name(item[0]), version(item[1]))
        if pair not in out:
            out.append(pair)
    _count("parents", len(out))
    return out


def storage_path(text: Any) -> str:
    """A storage path as recorded: a plain relative POSIX path inside the store's root;
    InvalidInputError for an absolute path, '..', '.', empty parts, backslashes or NUL."""
    if not isinstance(text, str):
        raise InvalidInputError(f"a storage path is a string, not {type(text).__name__}")
    parts = text.split("/")
    if (
        not text
        or text.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or "\\" in text
        or "\x00" in text
    ):
        raise InvalidInputError(f"storage path {text!r} is outside the artifact root")
    return text


def import_version_number(text: Any, model: str) -> int:
    """An imported version number: decimal digits without a leading zero, as saves make."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or text[0] == "0":
        raise InvalidInputError(f"model {model!r}: version {text!r} is not a number such as '3'")
    return int(text)
