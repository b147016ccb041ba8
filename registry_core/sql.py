"""The shared SQL layer: every query registry-core runs, written once with `:name` parameters.

`Queries(dialect, level)` fills in the few dialect hooks (upsert, insert-if-absent, integer
cast, RETURNING) once per backend; the text is otherwise identical on SQLite, PostgreSQL and
MySQL. `level` is the schema version the backend found (1 = 001 ...): a backend opened before
an upgrade keeps the queries of its level, so it keeps working while and after others migrate.
Row shapes are fixed by the column lists below, so readers index rows by position.
"""

from __future__ import annotations

from registry_core.dialect import Dialect

#: schema levels that bring a feature
METRICS, LINEAGE, ALIASES = 2, 3, 4
#: the columns of a model row, in the order `sqlbackend._model` reads them
MODEL_COLUMNS = "m.name, m.description, m.created_at, m.updated_at"
#: the columns of a version row, in the order `sqlbackend._version` reads them
VERSION_COLUMNS = (
    "m.name, mv.version, mv.description, mv.storage_path, mv.file_size_bytes, "
    "mv.created_at, mv.checksum, mv.id, mv.model_id"
)
_VERSION_FROM = "FROM mr_models m JOIN mr_model_versions mv ON mv.model_id = m.id"
#: the seed document's definition of "latest", the version row inserted last, as a join on
#: one grouped pass: the seed's correlated `mv.id = (SELECT MAX(id) ...)` took 8.5 s on
#: PostgreSQL over 100,000 versions before ANALYZE (benchmarks/bench_migrations.py), this 18 ms
_LATEST_JOIN = (
    "JOIN (SELECT model_id, MAX(id) AS latest_id FROM mr_model_versions GROUP BY model_id) lv "
    "ON lv.latest_id = mv.id"
)
#: how many rows one multi-row INSERT carries: the most tags, metrics or parents one save
#: takes (validate.MAX_ITEMS), so a save's INSERTs stay one per kind; lineage() reads chains
#: longer than this in chunks
CHUNK = 1000
#: how deep lineage() follows parents or children (MySQL stops recursion at 1000 by default)
LINEAGE_MAX_DEPTH = 500


class Queries:
    """Every statement, rendered for one dialect and schema level."""

    def __init__(self, dialect: Dialect, level: int) -> None:
        d = dialect
        self.level = level
        version_order = d.int_cast("mv.version")
        self._version_order = version_order

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
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} WHERE m.name = :name "
            "ORDER BY mv.id DESC LIMIT 1"
        )
        self.get_version_by_alias = (
            f"SELECT {VERSION_COLUMNS} FROM mr_models m "
            "JOIN mr_model_aliases a ON a.model_id = m.id "
            "JOIN mr_model_versions mv ON mv.id = a.model_version_id "
            "WHERE m.name = :name AND a.alias = :alias"
        )
        self.list_versions = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} WHERE m.name = :name "
            f"ORDER BY {version_order}"
        )
        self.latest_versions = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} {_LATEST_JOIN} ORDER BY m.name"
        )
        tagged_key = "SELECT mt.model_version_id FROM mr_model_tags mt WHERE mt.tag_key = :key"
        tagged_value = f"{tagged_key} AND mt.tag_value = :value"
        find = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} WHERE mv.id IN ({{tagged}}) "
            f"ORDER BY m.name, {version_order}"
        )
        self.find_by_tag_key = find.format(tagged=tagged_key)
        self.find_by_tag_value = find.format(tagged=tagged_value)
        best = (
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} "
            "JOIN mr_model_metrics x ON x.model_version_id = mv.id "
            "WHERE m.name = :name AND x.metric_name = :metric "
            "ORDER BY x.metric_value {order}, mv.id DESC LIMIT 1"
        )
        self.best_version_highest = best.format(order="DESC")
        self.best_version_lowest = best.format(order="ASC")

        # -- tags, metrics and aliases of a set of versions, in one statement ----------------
        ids_of_model = (
            "SELECT mv.id FROM mr_model_versions mv JOIN mr_models m ON m.id = mv.model_id "
            "WHERE m.name = :name"
        )
        ids_of_latest = "SELECT MAX(id) FROM mr_model_versions GROUP BY model_id"
        self.attributes_of_version = self.attributes(":version_id")
        self.attributes_of_model = self.attributes(ids_of_model)
        self.attributes_of_latest = self.attributes(ids_of_latest)
        self.attributes_of_tag_key = self.attributes(tagged_key)
        self.attributes_of_tag_value = self.attributes(tagged_value)

        # -- tags ---------------------------------------------------------------------------
        self.upsert_tag = d.upsert(
            "mr_model_tags",
            ["model_version_id", "tag_key", "tag_value"],
            ["model_version_id", "tag_key"],
            ["tag_value"],
        )
        self.delete_tag = (
            "DELETE FROM mr_model_tags WHERE model_version_id = :version_id AND tag_key = :key"
        )

        # -- lineage (one recursive query, either direction) ----------------------------------
        self.insert_parents_prefix = (
            "INSERT INTO mr_model_lineage (child_version_id, parent_version_id) "
            f"SELECT :child_id, mv.id {_VERSION_FROM} WHERE mv.id <> :child_id AND ("
        )
        self.ancestors = self._lineage(near="child_version_id", far="parent_version_id")
        self.descendants = self._lineage(near="parent_version_id", far="child_version_id")

        # -- aliases -----------------------------------------------------------------------
        # Moving an alias is this one statement: it creates or repoints the row atomically.
        self.upsert_alias = d.upsert(
            "mr_model_aliases",
            ["model_id", "alias", "model_version_id", "updated_at"],
            ["model_id", "alias"],
            ["model_version_id", "updated_at"],
        )
        self.delete_alias = (
            "DELETE FROM mr_model_aliases WHERE alias = :alias "
            "AND model_id = (SELECT id FROM mr_models WHERE name = :name)"
        )

        # -- deleting a version --------------------------------------------------------
        self.delete_version = "DELETE FROM mr_model_versions WHERE id = :version_id"
        self.touch_model = "UPDATE mr_models SET updated_at = :now WHERE name = :name"

        # -- every version's file, in keyset batches (fsck) ---------------------------------
        self.version_files = (
            "SELECT m.name, mv.version, mv.storage_path, mv.file_size_bytes, mv.checksum, mv.id "
            f"{_VERSION_FROM} WHERE mv.id > :after ORDER BY mv.id LIMIT {CHUNK}"
        )

        # -- statistics (the seed document's query) ---------------------------------------
        self.stats = (
            "SELECT COUNT(DISTINCT m.id), COUNT(mv.id), SUM(mv.file_size_bytes), "
            "AVG(mv.file_size_bytes) "
            "FROM mr_models m LEFT JOIN mr_model_versions mv ON m.id = mv.model_id"
        )

    def attributes(self, version_ids: str) -> str:
        """Rows (kind, version id, key, text value, number) of the versions `version_ids`
        selects: kind 't' tags, 'm' metrics, 'a' aliases (those the schema level has)."""
        branches = [
            "SELECT 't', t.model_version_id, t.tag_key, t.tag_value, NULL "
            f"FROM mr_model_tags t WHERE t.model_version_id IN ({version_ids})"
        ]
        if self.level >= METRICS:
            branches.append(
                "SELECT 'm', x.model_version_id, x.metric_name, NULL, x.metric_value "
                f"FROM mr_model_metrics x WHERE x.model_version_id IN ({version_ids})"
            )
        if self.level >= ALIASES:
            branches.append(
                "SELECT 'a', a.model_version_id, a.alias, NULL, NULL "
                f"FROM mr_model_aliases a WHERE a.model_version_id IN ({version_ids})"
            )
        return " UNION ALL ".join(branches)

    def attributes_of_ids(self, count: int) -> str:
        """attributes() of `count` versions given as parameters :i0, :i1, ..."""
        return self.attributes(", ".join(f":i{i}" for i in range(count)))

    def _lineage(self, *, near: str, far: str) -> str:
        # UNION (not UNION ALL) keeps diamond-shaped histories from multiplying rows.
        return (
            "WITH RECURSIVE chain (version_id, depth) AS ("
            f"SELECT l.{far}, 1 FROM mr_model_lineage l WHERE l.{near} = :start_id "
            f"UNION SELECT l.{far}, c.depth + 1 FROM mr_model_lineage l "
            f"JOIN chain c ON l.{near} = c.version_id WHERE c.depth < {LINEAGE_MAX_DEPTH}) "
            f"SELECT {VERSION_COLUMNS}, d.depth FROM "
            "(SELECT version_id, MIN(depth) AS depth FROM chain GROUP BY version_id) d "
            "JOIN mr_model_versions mv ON mv.id = d.version_id "
            "JOIN mr_models m ON m.id = mv.model_id "
            f"ORDER BY d.depth, m.name, {self._version_order}"
        )

    @staticmethod
    def insert_rows(table: str, columns: tuple[str, str], count: int) -> str:
        """One INSERT of `count` (version, a, b) rows: parameters :version_id, :a0, :b0, ..."""
        rows = ", ".join(f"(:version_id, :a{i}, :b{i})" for i in range(count))
        return f"INSERT INTO {table} (model_version_id, {columns[0]}, {columns[1]}) VALUES {rows}"

    @staticmethod
    def parents_condition(count: int) -> str:
        """The WHERE tail of insert_parents_prefix for `count` (name, version) pairs."""
        pairs = " OR ".join(f"(m.name = :pn{i} AND mv.version = :pv{i})" for i in range(count))
        return pairs + ")"

    @staticmethod
    def row_count(table: str) -> str:
        """Rows in one of our own tables (names come from registry-core, never from input)."""
        return f"SELECT COUNT(*) FROM {table}"
