"""The shared SQL layer: every query registry-core runs, written once with `:name` parameters.

`Queries(dialect)` fills in the few dialect hooks (upsert, insert-if-absent, integer cast,
RETURNING) once per backend; the text is otherwise identical on SQLite, PostgreSQL and MySQL.
Row shapes are fixed by the column lists below, so readers index rows by position.
"""

from __future__ import annotations

from registry_core.dialect import Dialect

#: the columns of a model row, in the order `rows.model` reads them
MODEL_COLUMNS = "m.name, m.description, m.created_at, m.updated_at"
#: the columns of a version row, in the order `rows.version` reads them (id last)
VERSION_COLUMNS = (
    "m.name, mv.version, mv.description, mv.storage_path, mv.file_size_bytes, "
    "mv.created_at, mv.checksum, mv.id"
)
_VERSION_FROM = "FROM mr_models m JOIN mr_model_versions mv ON mv.model_id = m.id"
#: the seed document's definition of "latest": the version row inserted last
_IS_LATEST = "mv.id = (SELECT MAX(mv2.id) FROM mr_model_versions mv2 WHERE mv2.model_id = m.id)"
#: how many tags one INSERT carries; a save with more tags sends one INSERT per chunk
TAG_CHUNK = 200


class Queries:
    """Every statement, rendered for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        d = dialect
        version_order = d.int_cast("mv.version")

        # -- models ------------------------------------------------------------------
        self.get_model = f"SELECT {MODEL_COLUMNS} FROM mr_models m WHERE m.name = :name"
        self.list_models = f"SELECT {MODEL_COLUMNS} FROM mr_models m ORDER BY m.name"
        self.model_exists = "SELECT id FROM mr_models WHERE name = :name"
        self.update_model = (
            "UPDATE mr_models SET description = :description, updated_at = :now WHERE name = :name"
        )
        self.model_storage_paths = f"SELECT mv.storage_path {_VERSION_FROM} WHERE m.name = :name"
        self.delete_model = "DELETE FROM mr_models WHERE name = :name"

        # -- saving a version: bounded statements whatever the tag or version count ----
        self.create_model_if_absent = d.insert_if_absent(
            "mr_models", ["name", "description", "created_at", "updated_at"], ["name"]
        )
        # Row lock on the model: concurrent savers of one model queue here, so the counter
        # read next is theirs alone until commit. Numbers are never reused.
        self.bump_version_counter = (
            "UPDATE mr_models SET last_version = last_version + 1, updated_at = :now "
            "WHERE name = :name"
        )
        self.read_version_counter = "SELECT id, last_version FROM mr_models WHERE name = :name"
        self.insert_version = d.returning_id(
            "INSERT INTO mr_model_versions (model_id, version, description, storage_path, "
            "file_size_bytes, checksum, created_at) VALUES (:model_id, :version, "
            ":description, :storage_path, :file_size_bytes, :checksum, :created_at)"
        )

        # -- reading versions ------------------------------------------------------------
        self.get_version = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} "
            "WHERE m.name = :name AND mv.version = :version"
        )
        self.get_latest_version = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} WHERE m.name = :name AND {_IS_LATEST}"
        )
        self.list_versions = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} WHERE m.name = :name "
            f"ORDER BY {version_order}"
        )
        self.latest_versions = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} WHERE {_IS_LATEST} ORDER BY m.name"
        )
        find = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} "
            "WHERE mv.id IN (SELECT mt.model_version_id FROM mr_model_tags mt "
            "WHERE mt.tag_key = :key{value}) "
            f"ORDER BY m.name, {version_order}"
        )
        self.find_by_tag_key = find.format(value="")
        self.find_by_tag_value = find.format(value=" AND mt.tag_value = :value")

        # -- tags (read in one statement per call, never one per version) -------------------
        tag_columns = "t.model_version_id, t.tag_key, t.tag_value"
        self.tags_of_version = (
            f"SELECT {tag_columns} FROM mr_model_tags t WHERE t.model_version_id = :version_id"
        )
        self.tags_of_model = (
            f"SELECT {tag_columns} FROM mr_model_tags t "
            "JOIN mr_model_versions mv ON mv.id = t.model_version_id "
            "JOIN mr_models m ON m.id = mv.model_id WHERE m.name = :name"
        )
        self.tags_of_latest_versions = (
            f"SELECT {tag_columns} FROM mr_model_tags t "
            "JOIN mr_model_versions mv ON mv.id = t.model_version_id "
            f"JOIN mr_models m ON m.id = mv.model_id WHERE {_IS_LATEST}"
        )
        tags_found = (
            f"SELECT {tag_columns} FROM mr_model_tags t WHERE t.model_version_id IN "
            "(SELECT mt.model_version_id FROM mr_model_tags mt WHERE mt.tag_key = :key{value})"
        )
        self.tags_of_tag_key = tags_found.format(value="")
        self.tags_of_tag_value = tags_found.format(value=" AND mt.tag_value = :value")
        self.upsert_tag = d.upsert(
            "mr_model_tags",
            ["model_version_id", "tag_key", "tag_value"],
            ["model_version_id", "tag_key"],
            ["tag_value"],
        )
        self.delete_tag = (
            "DELETE FROM mr_model_tags WHERE model_version_id = :version_id AND tag_key = :key"
        )

        # -- deleting a version --------------------------------------------------------
        self.delete_version = "DELETE FROM mr_model_versions WHERE id = :version_id"
        self.touch_model = "UPDATE mr_models SET updated_at = :now WHERE name = :name"

        # -- statistics (the seed document's query) ---------------------------------------
        self.stats = (
            "SELECT COUNT(DISTINCT m.id), COUNT(mv.id), SUM(mv.file_size_bytes), "
            "AVG(mv.file_size_bytes) "
            "FROM mr_models m LEFT JOIN mr_model_versions mv ON m.id = mv.model_id"
        )

    @staticmethod
    def insert_tags(count: int) -> str:
        """One INSERT of `count` tags of one version: parameters :version_id, :k0, :v0, ..."""
        rows = ", ".join(f"(:version_id, :k{i}, :v{i})" for i in range(count))
        return f"INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) VALUES {rows}"

    @staticmethod
    def row_count(table: str) -> str:
        """Rows in one of our own tables (names come from registry-core, never from input)."""
        return f"SELECT COUNT(*) FROM {table}"
