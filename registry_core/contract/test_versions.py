"""Versions: numbering, reading, deleting, loading with verification, and atomic saves."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

import registry_core
from registry_core import (
    ArtifactStoreError,
    ChecksumMismatchError,
    InvalidInputError,
    ModelRegistry,
    NotFoundError,
)
from registry_core.contract.stores import Store, local_files
from registry_core.migrator import load_migrations
from registry_core.sqlbackend import SQLMetadataBackend
from registry_core.testing.databases import PRODUCTS


def test_versions_count_up_and_list_in_numeric_order(registry: ModelRegistry) -> None:
    made = [registry.save_model(i, "m").version for i in range(12)]
    assert made == [str(i) for i in range(1, 13)]
    assert [v.version for v in registry.list_versions("m")] == made  # 10 after 9
    assert registry.get_version("m").version == "12"
    assert registry.get_version("m", 3).version == "3"
    assert registry.get_version("m", "3") == registry.get_version("m", 3)


def test_missing_versions_and_models(registry: ModelRegistry) -> None:
    registry.save_model(0, "m")
    with pytest.raises(NotFoundError, match="version 2"):
        registry.get_version("m", 2)
    with pytest.raises(NotFoundError, match="no model"):
        registry.get_version("x")
    with pytest.raises(NotFoundError):
        registry.list_versions("x")
    with pytest.raises(InvalidInputError):
        registry.get_version("m", "latest")
    with pytest.raises(InvalidInputError):
        registry.get_version("m", 0)


def test_deleted_version_numbers_are_never_reused(registry: ModelRegistry) -> None:
    for i in range(3):
        registry.save_model(i, "m")
    path = local_files(registry).absolute(registry.get_version("m", 3).storage_path)
    registry.delete_version("m", 3)
    assert not path.exists()
    with pytest.raises(NotFoundError):
        registry.get_version("m", 3)
    assert registry.get_version("m").version == "2"
    assert registry.save_model(9, "m").version == "4", (
        "guarantee: deleted version numbers are never reused (SPEC section 4)"
    )
    registry.delete_version("m", 1)
    assert [v.version for v in registry.list_versions("m")] == ["2", "4"]
    with pytest.raises(NotFoundError):
        registry.delete_version("m", 1)


def test_model_without_versions_lists_empty(registry: ModelRegistry) -> None:
    registry.save_model(0, "m")
    registry.delete_version("m", 1)
    assert registry.list_versions("m") == []
    assert registry.latest_versions() == []
    with pytest.raises(NotFoundError, match="no versions"):
        registry.get_version("m")
    assert registry.save_model(0, "m").version == "2"


@pytest.mark.stores
def test_load_model_verifies_size_and_checksum(registry: ModelRegistry, store: Store) -> None:
    v = registry.save_model({"weights": [1.0, 2.0]}, "m")
    assert registry.load_model("m") == {"weights": [1.0, 2.0]}
    assert registry.load_model("m", 1) == {"weights": [1.0, 2.0]}
    assert v.checksum is not None and v.checksum.startswith("sha256:")
    data = bytearray(store.read(v.storage_path))
    data[-2] ^= 0xFF  # same size, other bytes
    store.write(v.storage_path, bytes(data))
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        registry.load_model("m")
    store.write(v.storage_path, bytes(data) + b"x")
    with pytest.raises(ChecksumMismatchError, match="size"):
        registry.load_model("m")


@pytest.mark.stores
def test_save_model_file_copies_the_file(registry: ModelRegistry, tmp_path: Path) -> None:
    src = tmp_path / "weights.onnx"
    src.write_bytes(b"\x00\x01onnx" * 1000)
    v = registry.save_model_file(src, "m", tags={"format": "onnx"})
    assert v.file_size_bytes == src.stat().st_size
    stored = registry.model_path("m", v.version)
    assert stored != src and stored.read_bytes() == src.read_bytes()
    assert stored.name.endswith("-weights.onnx")
    with pytest.raises(InvalidInputError, match="no such file"):
        registry.save_model_file(tmp_path / "missing.bin", "m")


def _create(backend: Any, **kwargs: Any) -> str:
    """create_version of model "m" with placeholder file facts."""
    args: dict[str, Any] = {
        "description": None,
        "tags": {},
        "file_size_bytes": 1,
        "checksum": "sha256:00",
        "storage_path": f"models/m/{uuid.uuid4().hex}",
    }
    return str(backend.create_version("m", **{**args, **kwargs}).version)


def test_a_failed_save_leaves_nothing(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = local_files(registry).root / ".staging"
    with pytest.raises(InvalidInputError, match="pickled"):
        registry.save_model(lambda x: x, "m")
    assert registry.list_models() == []

    def fail(current: Path, storage_path: str) -> Path:
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(registry.artifacts, "move", fail)
        with pytest.raises(ArtifactStoreError, match="disk full") as info:
            registry.save_model(1, "m", tags={"a": "b"})
        assert isinstance(info.value.__cause__, OSError)
    assert registry.list_models() == []
    assert list(staging.iterdir()) == []
    assert registry.save_model(0, "m", tags={"a": "b"}).version == "1"
    assert list(staging.iterdir()) == []


@pytest.mark.registry_capabilities("lineage", "metrics", "sql")
def test_save_is_one_transaction_with_tags(backend: SQLMetadataBackend) -> None:
    assert _create(backend) == "1"
    # the missing parent is found by the last statement, after the row, tags and metrics
    with pytest.raises(NotFoundError, match="ghost"):
        _create(backend, tags={"k": "v"}, metrics={"x": 1.0}, parents=[("m", "1"), ("ghost", "1")])
    assert [v.version for v in backend.list_versions("m")] == ["1"]
    assert backend.query("SELECT COUNT(*) FROM mr_model_tags") == [(0,)]
    assert backend.query("SELECT COUNT(*) FROM mr_model_metrics") == [(0,)]
    assert backend.query("SELECT COUNT(*) FROM mr_model_lineage") == [(0,)]
    assert backend.query("SELECT last_version FROM mr_models") == [(1,)]
    assert _create(backend) == "2"


def test_latest_versions_one_per_model_by_name(registry: ModelRegistry) -> None:
    registry.save_model(0, "b", tags={"t": "1"})
    registry.save_model(0, "b", tags={"t": "2"})
    registry.save_model(0, "a")
    for _ in range(10):
        registry.save_model(0, "c")
    latest = registry.latest_versions()
    assert [(v.name, v.version) for v in latest] == [("a", "1"), ("b", "2"), ("c", "10")]
    assert latest[1].tags == {"t": "2"}


def test_tags_set_overwrite_delete(registry: ModelRegistry) -> None:
    registry.save_model(0, "m", tags={"stage": "dev", "owner": "ann"})
    registry.set_tag("m", 1, "stage", "prod")
    registry.set_tag("m", 1, "note", None)
    assert registry.get_version("m", 1).tags == {"note": None, "owner": "ann", "stage": "prod"}
    registry.delete_tag("m", 1, "owner")
    assert registry.get_version("m", 1).tags == {"note": None, "stage": "prod"}
    with pytest.raises(NotFoundError, match="owner"):
        registry.delete_tag("m", 1, "owner")
    with pytest.raises(NotFoundError):
        registry.set_tag("m", 2, "k", "v")
    with pytest.raises(NotFoundError):
        registry.set_tag("x", 1, "k", "v")


def test_tag_keys_and_values_compare_exactly(registry: ModelRegistry) -> None:
    registry.save_model(0, "m", tags={"Type": "A", "type": "a", "type ": "a "})
    assert registry.get_version("m").tags == {"Type": "A", "type": "a", "type ": "a "}
    assert [v.name for v in registry.find_by_tag("type", "a")] == ["m"]
    assert registry.find_by_tag("type", "A") == []
    assert registry.find_by_tag("TYPE") == []
    assert registry.find_by_tag("type", "a ") == []


def test_find_by_tag_orders_by_name_then_numeric_version(registry: ModelRegistry) -> None:
    for i in range(11):
        registry.save_model(i, "b", tags={"type": "regression" if i % 2 else "tree"})
    registry.save_model(0, "a", tags={"type": "regression"})
    registry.save_model(0, "c", tags={"type": None})
    registry.save_model(0, "d", tags={"other": "regression"})
    found = registry.find_by_tag("type", "regression")
    assert [(v.name, v.version) for v in found] == [
        ("a", "1"),
        ("b", "2"),
        ("b", "4"),
        ("b", "6"),
        ("b", "8"),
        ("b", "10"),
    ]
    any_value = registry.find_by_tag("type")
    assert [(v.name, v.version) for v in any_value][:2] == [("a", "1"), ("b", "1")]
    assert len(any_value) == 13 and any_value[-1].name == "c"
    assert any_value[-1].tags == {"type": None}


def test_stats(registry: ModelRegistry) -> None:
    empty = registry.stats()
    assert (empty.total_models, empty.total_versions, empty.total_size_bytes) == (0, 0, 0)
    assert empty.avg_size_bytes == 0.0
    sizes = []
    for i, name in enumerate(["a", "a", "b"]):
        sizes.append(registry.save_model("x" * (100 * (i + 1)), name).file_size_bytes)
    s = registry.stats()
    assert (s.total_models, s.total_versions, s.total_size_bytes) == (2, 3, sum(sizes))
    assert s.avg_size_bytes == pytest.approx(sum(sizes) / 3)


@pytest.mark.registry_capabilities("sql")
def test_database_stats(registry: ModelRegistry, engine: str) -> None:
    registry.save_model(0, "m", tags={"a": "b"})
    d = registry.database_stats()
    assert d.backend == {"mariadb": "mysql"}.get(engine, engine)  # one backend for both
    product, version = d.server_version.split(" ")
    if engine in PRODUCTS:  # a built-in engine: its product ("MySQL 9.7.4", "MariaDB 11.8.9")
        assert product == PRODUCTS[engine]
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", version), d.server_version
    assert d.schema_version == load_migrations()[-1].version
    assert d.size_bytes > 0
    assert d.row_counts["mr_models"] == 1
    assert d.row_counts["mr_model_versions"] == 1
    assert d.row_counts["mr_model_tags"] == 1
    assert d.row_counts["schema_migrations"] >= 1
    assert d.row_counts["mr_registry"] == 1


def test_each_registry_has_a_stable_id_made_with_its_schema(db_url: str, tmp_path: Path) -> None:
    first = registry_core.connect(db_url, artifacts=tmp_path / "a")
    with first:
        made = first.database_stats().registry_id
        assert made is not None and uuid.UUID(made).version in (1, 4)  # MySQL's UUID() is v1
        first.save_model(1, "m")
        assert first.database_stats().registry_id == made
    with registry_core.connect(db_url, artifacts=tmp_path / "a") as again:  # a new process
        assert again.database_stats().registry_id == made
        assert again.database_stats().as_dict()["registry_id"] == made
    other = tmp_path / "other.db"
    with registry_core.connect(f"sqlite:///{other}", artifacts=tmp_path / "b") as second:
        assert second.database_stats().registry_id not in (None, made)
