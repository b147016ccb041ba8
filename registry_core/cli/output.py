"""Output: aligned tables for people (long values cut with an ellipsis, control characters
escaped, times in UTC), JSON for scripts, and error reports in either form."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from registry_core.records import Model, ModelVersion


def emit(as_json: bool, data: Any, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines))


def _ellipsis() -> str:
    try:
        "…".encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "…"


def printable(text: str) -> str:
    """`text` with control characters (newlines, terminal escapes) shown as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _cut(text: str, width: int, ellipsis: str) -> str:
    return text if len(text) <= width else text[: max(width - len(ellipsis), 1)] + ellipsis


def table(
    columns: Sequence[tuple[str, int]],
    rows: Sequence[Sequence[str]],
    *,
    header: bool = True,
    fixed: bool = False,
) -> list[str]:
    """Aligned lines: a header of (title, maximum width) columns, then the rows; a cell wider
    than its column ends in an ellipsis. The last column is not padded. Columns are as wide
    as their widest cell, or (`fixed`) as their maximum width, so that tables printed a page
    at a time line up (`header=False` after the first)."""
    dots = _ellipsis()
    cells = [
        [_cut(printable(c), w, dots) for c, (_, w) in zip(row, columns, strict=True)]
        for row in rows
    ]
    titles = [t for t, _ in columns]
    if fixed:
        widths = [max(len(t), w) for t, w in columns]
    else:
        widths = [max([len(t)] + [len(r[i]) for r in cells]) for i, t in enumerate(titles)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return ([line(titles)] if header else []) + [line(r) for r in cells]


def when(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _tags_text(tags: Any) -> str:
    return ", ".join(k if v is None else f"{k}={v}" for k, v in sorted(tags.items()))


def _metrics_text(metrics: Any) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))


def version_data(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "description": mv.description,
        "created_at": mv.created_at.isoformat(),
        "file_size_bytes": mv.file_size_bytes,
        "checksum": mv.checksum,
        "storage_path": mv.storage_path,
        "aliases": list(mv.aliases),
        "tags": dict(mv.tags),
        "metrics": dict(mv.metrics),
    }


def model_data(m: Model) -> dict[str, Any]:
    return {
        "name": m.name,
        "description": m.description,
        "created_at": m.created_at.isoformat(),
        "updated_at": m.updated_at.isoformat(),
        "tags": dict(m.tags),
    }


VERSION_COLUMNS = [
    ("NAME", 32),
    ("VERSION", 8),
    ("CREATED (UTC)", 19),
    ("SIZE", 10),
    ("ALIASES", 24),
    ("TAGS", 40),
    ("METRICS", 40),
]
MODEL_COLUMNS = [("NAME", 40), ("UPDATED (UTC)", 19), ("TAGS", 32), ("DESCRIPTION", 50)]


def version_row(mv: ModelVersion) -> list[str]:
    return [
        mv.name,
        mv.version,
        when(mv.created_at),
        human_size(mv.file_size_bytes),
        ", ".join(mv.aliases),
        _tags_text(mv.tags),
        _metrics_text(mv.metrics),
    ]


def model_row(m: Model) -> list[str]:
    return [m.name, when(m.updated_at), _tags_text(m.tags), m.description or ""]


def error(as_json: bool, kind: str, message: str, details: dict[str, Any] | None = None) -> None:
    """An error: a line on stderr, or with `as_json` the error object on stdout."""
    if as_json:
        print(json.dumps({"error": {"type": kind, "message": message}, **(details or {})}))
    else:
        print(f"registry-core: error: {message}", file=sys.stderr)
