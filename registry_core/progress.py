"""A copy's progress (`copy_registry(progress=...)`): counts of models, versions and bytes
handed to a callable as `CopyProgress`, or drawn as tqdm bars on a terminal, or nowhere."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry_core.backend import MetadataBackend
from registry_core.records import ExportedModel


@dataclass(frozen=True)
class CopyProgress:
    """Where a copy stands, given to a `progress` callable after each file and each model.
    Totals are None when unknown (a copy of named models does not count their versions
    first); `bytes_done` counts the files of the versions handled, copied or already there."""

    model: str
    models_done: int
    models_total: int | None
    versions_done: int
    versions_total: int | None
    bytes_done: int
    bytes_total: int | None


#: what `progress=` takes: None (a bar if stderr is a terminal), True, False, or a callable
Progress = bool | Callable[[CopyProgress], None] | None


class Reporter:
    """Counts progress and hands it to a callable or to tqdm bars (or nowhere)."""

    def __init__(
        self,
        totals: tuple[int | None, int | None, int | None],
        sink: Callable[[CopyProgress], None] | None = None,
        bars: list[Any] | None = None,
    ) -> None:
        self.models_total, self.versions_total, self.bytes_total = totals
        self.sink = sink
        self.bars = bars or []
        self.models_done = self.versions_done = self.bytes_done = 0

    def _emit(self, model: str) -> None:
        if self.sink is not None:
            self.sink(
                CopyProgress(
                    model,
                    self.models_done,
                    self.models_total,
                    self.versions_done,
                    self.versions_total,
                    self.bytes_done,
                    self.bytes_total,
                )
            )

    def bytes(self, model: str, n: int) -> None:
        self.bytes_done += n
        if self.bars:
            self.bars[2].update(n)
        self._emit(model)

    def versions(self, model: str, n: int) -> None:
        self.versions_done += n
        if self.bars:
            self.bars[1].update(n)

    def model_done(self, model: ExportedModel) -> None:
        self.models_done += 1
        if self.bars:
            self.bars[0].update(1)
        self._emit(model.name)

    def close(self) -> None:
        for bar in self.bars:
            bar.close()


def reporter(progress: Progress, source: MetadataBackend, names: list[str] | None) -> Reporter:
    if progress is False:
        return Reporter((None, None, None))
    if progress is None and not _is_terminal(sys.stderr):
        return Reporter((None, None, None))
    totals: tuple[int | None, int | None, int | None]
    if names is None:
        stats = source.stats()  # outside the snapshot: for the bars only
        totals = (stats.total_models, stats.total_versions, stats.total_size_bytes)
    else:
        totals = (len(names), None, None)
    if callable(progress):
        return Reporter(totals, sink=progress)
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except ImportError:
        print(
            "registry-core: no progress bar: tqdm is not installed "
            "(pip install 'registry-core[progress]')",
            file=sys.stderr,
        )
        return Reporter(totals)
    bars = [
        tqdm(total=totals[0], desc="models", unit="", position=0, file=sys.stderr),
        tqdm(total=totals[1], desc="versions", unit="", position=1, file=sys.stderr),
        tqdm(
            total=totals[2],
            desc="bytes",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            position=2,
            file=sys.stderr,
        ),
    ]
    return Reporter(totals, bars=bars)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
