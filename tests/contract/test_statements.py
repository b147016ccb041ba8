"""A save sends a bounded number of statements, whatever the number of tags or versions.

Counted through the backend's StatementCounter, which sees every statement the shared layer
sends, transaction control included; never timed.
"""

from __future__ import annotations

from registry_core.sqlbackend import SQLMetadataBackend

MAX_STATEMENTS_PER_SAVE = 9


def _save_cost(
    backend: SQLMetadataBackend,
    name: str,
    tags: dict[str, str | None],
    metrics: dict[str, float] | None = None,
    parents: list[tuple[str, str]] | None = None,
) -> int:
    before = backend.statements.value
    backend.create_version(
        name,
        description="d",
        tags=tags,
        file_size_bytes=10,
        checksum="sha256:00",
        place_file=lambda v: f"models/{name}/{v}",
        metrics=metrics,
        parents=parents or [],
    )
    return backend.statements.value - before


def test_save_statement_count_is_bounded(backend: SQLMetadataBackend) -> None:
    first = _save_cost(backend, "m", {})
    for _ in range(30):
        _save_cost(backend, "m", {})
    after_many_versions = _save_cost(backend, "m", {})
    many_tags = _save_cost(backend, "m", {f"k{i}": f"v{i}" for i in range(1000)})
    one_tag = _save_cost(backend, "m", {"k": "v"})
    new_model = _save_cost(backend, "other", {"k": "v"})

    everything = _save_cost(
        backend,
        "m",
        {f"k{i}": "v" for i in range(1000)},
        {f"metric{i}": i / 7 for i in range(1000)},
        [("m", str(v)) for v in range(1, 30)] + [("other", "1")],
    )

    assert first == after_many_versions
    assert many_tags == one_tag == new_model == first + 1  # one INSERT for all tags
    assert everything == first + 3  # + one INSERT each for metrics and lineage edges
    assert everything <= MAX_STATEMENTS_PER_SAVE


def test_reads_are_a_few_statements(backend: SQLMetadataBackend) -> None:
    for i in range(20):
        backend.create_version(
            "m",
            description=None,
            tags={"a": str(i), "b": "x"},
            metrics={"score": i / 3},
            file_size_bytes=1,
            checksum="sha256:00",
            place_file=lambda v: f"p/{v}",
        )
    backend.set_alias("m", "champion", "3")
    for call in (
        lambda: backend.list_versions("m"),
        backend.latest_versions,
        lambda: backend.find_by_tag("b", "x"),
        lambda: backend.get_version("m"),
        lambda: backend.get_version("m", alias="champion"),
        lambda: backend.best_version("m", "score"),
    ):
        before = backend.statements.value
        call()
        assert backend.statements.value - before <= 4
