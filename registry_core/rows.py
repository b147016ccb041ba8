"""Database rows into the frozen records the API returns, with as little work per row as the
records allow: each version row carries its tags, metrics and aliases as JSON aggregates
(`Queries._attribute_columns`), which psycopg hands over already decoded and the other drivers
as text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from registry_core.errors import InvalidInputError
from registry_core.records import FrozenDict, Model, ModelVersion

UTC = timezone.utc
_loads = json.loads
_fromisoformat = datetime.fromisoformat
#: the positions of VERSION_COLUMNS + attribute columns in a version row: the version's id,
#: its model's id, its tags, metrics and aliases
ID, VERSION_MODEL_ID, TAGS, METRICS, ALIASES = 7, 8, 9, 10, 11


if sys.version_info >= (3, 11):

    def timestamp(text: Any) -> datetime:
        """A stored timestamp ("2026-11-26T06:18:17.123456Z", or the seed's naive
        "2025-01-02 00:00:00") as an aware UTC datetime."""
        if isinstance(text, datetime):
            return text if text.tzinfo else text.replace(tzinfo=UTC)
        value = _fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

else:  # Python 3.10's fromisoformat does not read "Z"

    def timestamp(text: Any) -> datetime:
        """A stored timestamp as an aware UTC datetime."""
        if isinstance(text, datetime):
            return text if text.tzinfo else text.replace(tzinfo=UTC)
        value = _fromisoformat(text[:-1] if text.endswith("Z") else text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def stamp(t: datetime) -> str:
    """A datetime as stored: fixed-width ISO-8601 UTC text with microseconds and "Z" (the
    inverse of `timestamp`); InvalidInputError for a naive datetime."""
    if t.tzinfo is None:
        raise InvalidInputError(f"timestamp {t.isoformat()} has no time zone")
    plain = t.astimezone(timezone.utc).replace(tzinfo=None)
    return plain.isoformat(timespec="microseconds") + "Z"


def _decoded(value: Any) -> Any:
    return _loads(value) if isinstance(value, (str, bytes)) else value


#: the positions of MODEL_COLUMNS + the tags column in a model row
MODEL_TAGS, MODEL_ID = 4, 5
_EMPTY: FrozenDict[Any, Any] = FrozenDict()


def model(row: tuple[Any, ...]) -> Model:
    """A model row (MODEL_COLUMNS, then its tags as JSON)."""
    tags = _decoded(row[MODEL_TAGS])
    return Model(
        row[0],
        row[1],
        timestamp(row[2]),
        timestamp(row[3]),
        FrozenDict({k: tags[k] for k in sorted(tags)}) if tags else _EMPTY,
    )


def version(
    row: tuple[Any, ...], metrics: Mapping[int, dict[str, float]] | None = None
) -> ModelVersion:
    """A version row (VERSION_COLUMNS and the attribute columns). `metrics`, by version id,
    replaces the metrics column where the dialect's JSON is not exact for doubles."""
    tags = _decoded(row[TAGS])
    aliases = _decoded(row[ALIASES])
    if metrics is None:
        found = _decoded(row[METRICS])
        measured = FrozenDict({k: float(found[k]) for k in sorted(found)}) if found else _EMPTY
    else:
        exact = metrics.get(row[ID])
        measured = FrozenDict({k: exact[k] for k in sorted(exact)}) if exact else _EMPTY
    return ModelVersion(
        row[0],
        str(row[1]),
        row[2],
        row[3],
        int(row[4] or 0),
        timestamp(row[5]),
        FrozenDict({k: tags[k] for k in sorted(tags)}) if tags else _EMPTY,
        row[6],
        measured,
        tuple(sorted(aliases)) if aliases else (),
    )
