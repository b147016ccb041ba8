"""The shared SQL layer: every query registry-core runs, written once with `:name` parameters.

`Queries(dialect, level)` fills in the few dialect hooks (upsert, insert-if-absent, integer
cast, RETURNING) once per backend; the text is otherwise identical on SQLite, PostgreSQL and
MySQL. `level` is the schema version the backend found (1 = 001 ...): a backend opened before
an upgrade keeps the queries of its level, so it keeps working while and after others migrate.
Row shapes are fixed by the column lists below, so readers index rows by position.
"""

from __future__ import annotations

from collections.abc import Callable

from registry_core.dialect import Dialect
from registry_core.events import EventQueries

#: schema levels that bring a feature
METRICS, LINEAGE, ALIASES, MODEL_TAGS, REGISTRY = 2, 3, 4, 5, 6
#: schema 007: versions' numbers as integers (version_number) and models' identities (uid)
IDENTITIES = 7
#: schema 008: the event log (mr_events, the feed's counter, consumers)
EVENTS = 8
#: the columns of a model row, in the order `rows.model` reads them
MODEL_COLUMNS = "m.name, m.description, m.created_at, m.updated_at"
#: the columns of a version row, in the order `rows.version` reads them
VERSION_COLUMNS = (
    "m.name, mv.version, mv.description, mv.storage_path, mv.file_size_bytes, "
    "mv.created_at, mv.checksum, mv.id, mv.model_id"
)
_VERSIONS_JOIN = " JOIN mr_model_versions mv ON mv.model_id = m.id"
_VERSION_FROM = f"FROM mr_models m{_VERSIONS_JOIN}"
#: how many rows one multi-row INSERT carries: the most tags, metrics or parents one save
#: takes (validate.MAX_ITEMS), so a save's INSERTs stay one per kind; lineage() reads chains
#: longer than this in chunks
CHUNK = 1000
#: how deep one recursive lineage query follows parents or children (MySQL stops recursion at
#: 1000 by default); lineage() continues from the versions it reached (registry_core.lineage)
LINEAGE_MAX_DEPTH = 500
#: how many models export_models reads per batch (one statement per table per batch)
EXPORT_BATCH = 100
#: the columns of an exported model row (sqltransfer.whole_models reads them), then its uid
_EXPORT_MODEL = "id, name, description, created_at, updated_at, last_version"


class Queries:
    """Every statement, rendered for one dialect and schema level."""

    def __init__(self, dialect: Dialect, level: int) -> None:
        d = dialect
        self.level = level
        self._dialect = d
        self.number = self._number_of(d)
        #: the uid column and its parameter in an INSERT of a model (none before 007)
        self._uid = (", uid", ", :uid") if level >= IDENTITIES else ("", "")
        self._version_order = self.number("mv")
        self._models(d)
        self._saves(d)
        self._reads(d)
        self._writes(d)
        self._transfers(d)
        #: the event log's statements (schema 008)
        self.events = EventQueries(d)

    def _number_of(self, d: Dialect) -> Callable[[str], str]:
        """The expression of a version's number as an integer, for a table alias: the
        generated column from schema 007 on (indexed with the model's id), else the cast."""
        if self.level >= IDENTITIES:
            return lambda alias: f"{alias}.version_number"
        return lambda alias: d.int_cast(f"{alias}.version")

    def _models(self, d: Dialect) -> None:
        """Reading and changing models and their own tags."""
        # -- models: MODEL_COLUMNS, the model's tags as JSON, its id --------------------
        model_tags = "NULL"
        if self.level >= MODEL_TAGS:
            model_tags = (
                f"(SELECT {d.json_object_agg}(g.tag_key, g.tag_value) "
                "FROM mr_registered_model_tags g WHERE g.model_id = m.id)"
            )
        self.model_select = f"SELECT {MODEL_COLUMNS}, {model_tags}, m.id FROM mr_models m"
        self.get_model = f"{self.model_select} WHERE m.name = :name"
        self.list_models = f"{self.model_select} ORDER BY m.name"
        self.rename_model = (
            "UPDATE mr_models SET name = :new_name, updated_at = :now WHERE name = :name"
        )
        self.upsert_model_tag = d.upsert(
            "mr_registered_model_tags",
            ["model_id", "tag_key", "tag_value"],
            ["model_id", "tag_key"],
            ["tag_value"],
        )
        self.delete_model_tag = (
            "DELETE FROM mr_registered_model_tags WHERE tag_key = :key "
            "AND model_id = (SELECT id FROM mr_models WHERE name = :name)"
        )
        self.model_exists = "SELECT id FROM mr_models WHERE name = :name"
        self.model_tag_value = (  # a model tag's value before a change (its event says it)
            "SELECT tag_value FROM mr_registered_model_tags "
            "WHERE model_id = :model_id AND tag_key = :tag_key"
        )
        self.update_model = (
            "UPDATE mr_models SET description = :description, updated_at = :now WHERE name = :name"
        )
        self.model_storage_paths = f"SELECT mv.storage_path {_VERSION_FROM} WHERE m.name = :name"
        self.delete_model = "DELETE FROM mr_models WHERE name = :name"
        # -- the registry itself (one row, from schema 006 on) ---------------------------
        self.registry_identity = "SELECT registry_id, artifacts FROM mr_registry WHERE id = 1"
        self.record_artifacts = (
            "UPDATE mr_registry SET artifacts = :artifacts WHERE id = 1 AND artifacts IS NULL"
        )

    def _saves(self, d: Dialect) -> None:
        """Saving a version, and settling a save whose COMMIT answer was lost."""
        # -- saving a version: bounded statements whatever the tag or version count ----
        # The counter UPDATE takes the model's row lock: concurrent savers of one model queue
        # there, so each gets its own number; numbers are never reused.
        self.bump_counter = d.bump_counter("mr_models", "last_version", "name", "updated_at")
        self.read_counter = "SELECT last_version FROM mr_models WHERE name = :key"
        # from schema 007 on, a new model gets its identity (:uid) with its row
        uid_column, uid_value = self._uid
        self.create_model = d.returning_id(
            "INSERT INTO mr_models (name, description, created_at, updated_at, last_version"
            f"{uid_column}) VALUES (:name, :description, :now, :now, 1{uid_value})"
        )
        self.insert_version = d.returning_id(
            "INSERT INTO mr_model_versions (model_id, version, description, storage_path, "
            "file_size_bytes, checksum, created_at) SELECT id, :version, :description, "
            ":storage_path, :file_size_bytes, :checksum, :now FROM mr_models WHERE name = :name"
        )
        self.version_by_path = (  # a save whose COMMIT answer was lost, told by its own path
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} "
            "WHERE m.name = :name AND mv.storage_path = :storage_path"
        )

    def _reads(self, d: Dialect) -> None:
        """Reading versions."""
        version_order = self._version_order
        # -- reading versions: each read is one statement that brings every version's tags,
        # metrics and aliases as JSON aggregates (rows.py builds the records) -------------
        full = f"{VERSION_COLUMNS}, {self._attribute_columns(d)}"
        self.version_select = f"SELECT {full} {_VERSION_FROM}"
        self.version_from = _VERSIONS_JOIN  # after "FROM mr_models m"
        self.update_version = (
            "UPDATE mr_model_versions SET description = :description WHERE id = :version_id"
        )
        self.version_row = (  # without attributes, for the writes that need the version's id
            f"SELECT {VERSION_COLUMNS} {_VERSION_FROM} "
            "WHERE m.name = :name AND mv.version = :version"
        )
        self.get_version = (
            f"SELECT {full} {_VERSION_FROM} WHERE m.name = :name AND mv.version = :version"
        )
        # "Latest" is the highest version number, whatever the row ids (a restore writes an
        # older number in a newer row): MAX over the model's own numbers, which the
        # (model_id, version_number) index of schema 007 answers from its last entry
        number = self.number
        self.get_latest_version = (
            f"SELECT {full} {_VERSION_FROM} WHERE m.name = :name AND {number('mv')} = "
            f"(SELECT MAX({number('lv')}) FROM mr_model_versions lv WHERE lv.model_id = m.id)"
        )
        self.get_version_by_alias = (
            f"SELECT {full} FROM mr_models m "
            "JOIN mr_model_aliases a ON a.model_id = m.id "
            "JOIN mr_model_versions mv ON mv.id = a.model_version_id "
            "WHERE m.name = :name AND a.alias = :alias"
        )
        self.list_versions = (
            f"SELECT {full} {_VERSION_FROM} WHERE m.name = :name ORDER BY {version_order}"
        )
        # one grouped pass rather than a correlated MAX per model (the seed's form took 8.5 s
        # on PostgreSQL over 100,000 versions before ANALYZE, this 18 ms)
        self.latest_versions = (
            f"SELECT {full} {_VERSION_FROM} JOIN (SELECT lv.model_id, MAX({number('lv')}) "
            "AS latest FROM mr_model_versions lv GROUP BY lv.model_id) g "
            f"ON g.model_id = mv.model_id AND g.latest = {number('mv')} ORDER BY m.name"
        )
        tagged_key = "SELECT mt.model_version_id FROM mr_model_tags mt WHERE mt.tag_key = :key"
        tagged_value = f"{tagged_key} AND mt.tag_value = :value"
        find = (
            f"SELECT {full} {_VERSION_FROM} WHERE mv.id IN ({{tagged}}) "
            f"ORDER BY m.name, {version_order}"
        )
        self.find_by_tag_key = find.format(tagged=tagged_key)
        self.find_by_tag_value = find.format(tagged=tagged_value)
        # CROSS JOIN is an inner join on every engine; on SQLite it also fixes the join order
        # (the model's versions, then their metric), which SQLite without ANALYZE statistics
        # otherwise drives from the metric's (name, value) index through every model's
        # versions: 360 ms at 100,000 versions, against 0.1 ms
        best = (
            f"SELECT {full} FROM mr_models m CROSS JOIN mr_model_versions mv "
            "CROSS JOIN mr_model_metrics b "
            "WHERE mv.model_id = m.id AND b.model_version_id = mv.id "
            "AND m.name = :name AND b.metric_name = :metric "
            f"ORDER BY b.metric_value {{order}}, {number('mv')} DESC LIMIT 1"
        )
        self.best_version_highest = best.format(order="DESC")
        self.best_version_lowest = best.format(order="ASC")

    def _writes(self, d: Dialect) -> None:
        """Tags, lineage, aliases, deletes, the file list and the statistics."""
        # -- tags ---------------------------------------------------------------------------
        self.upsert_tag = d.upsert(
            "mr_model_tags",
            ["model_version_id", "tag_key", "tag_value"],
            ["model_version_id", "tag_key"],
            ["tag_value"],
        )
        self.tag_value = (  # a tag's value before a change (its event says it)
            "SELECT tag_value FROM mr_model_tags "
            "WHERE model_version_id = :model_version_id AND tag_key = :tag_key"
        )
        self.delete_tag = (
            "DELETE FROM mr_model_tags WHERE model_version_id = :version_id AND tag_key = :key"
        )

        # -- lineage (one recursive query, either direction) ----------------------------------
        self.insert_parents_prefix = (
            "INSERT INTO mr_model_lineage (child_version_id, parent_version_id) "
            f"SELECT :child_id, mv.id {_VERSION_FROM} WHERE mv.id <> :child_id AND ("
        )
        self.ancestors = self._lineage(d, near="child_version_id", far="parent_version_id")
        self.descendants = self._lineage(d, near="parent_version_id", far="child_version_id")

        # -- aliases -----------------------------------------------------------------------
        # Moving an alias is this one statement: it creates or repoints the row atomically.
        self.upsert_alias = d.upsert(
            "mr_model_aliases",
            ["model_id", "alias", "model_version_id", "updated_at"],
            ["model_id", "alias"],
            ["model_version_id", "updated_at"],
        )
        self.alias_version = (  # where an alias points before a change (its event says it)
            "SELECT mv.version FROM mr_model_aliases a JOIN mr_model_versions mv "
            "ON mv.id = a.model_version_id WHERE a.model_id = :model_id AND a.alias = :alias"
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

    def _attribute_columns(self, d: Dialect) -> str:
        """Three columns after VERSION_COLUMNS: the version's tags and metrics as JSON
        objects and its aliases as a JSON array (NULL where there are none, or where the
        schema level lacks the table; metrics also NULL where the dialect's JSON is not exact
        for doubles: `metrics_of_ids` reads those)."""
        tags = (
            f"(SELECT {d.json_object_agg}(t.tag_key, t.tag_value) FROM mr_model_tags t "
            "WHERE t.model_version_id = mv.id)"
        )
        metrics = "NULL"
        if self.level >= METRICS and d.exact_json_doubles:
            metrics = (
                f"(SELECT {d.json_object_agg}(x.metric_name, x.metric_value) "
                "FROM mr_model_metrics x WHERE x.model_version_id = mv.id)"
            )
        aliases = "NULL"
        if self.level >= ALIASES:
            aliases = (
                f"(SELECT {d.json_array_agg}(a.alias) FROM mr_model_aliases a "
                "WHERE a.model_version_id = mv.id)"
            )
        return f"{tags}, {metrics}, {aliases}"

    def metrics_of_ids(self, count: int) -> str:
        """(version id, name, value) of the metrics of `count` versions :i0, :i1, ..."""
        ids = ", ".join(f":i{i}" for i in range(count))
        return (
            "SELECT model_version_id, metric_name, metric_value FROM mr_model_metrics "
            f"WHERE model_version_id IN ({ids})"
        )

    def lineage_from(self, direction: str, count: int) -> str:
        """`ancestors` or `descendants` continued from `count` versions :i0, :i1... (where a
        query stopped at LINEAGE_MAX_DEPTH), depths counted from them."""
        ids = ", ".join(f":i{i}" for i in range(count))
        near, far = ("child_version_id", "parent_version_id")
        if direction == "descendants":
            near, far = far, near
        return self._lineage(self._dialect, near=near, far=far, start=f"IN ({ids})")

    def _lineage(self, d: Dialect, *, near: str, far: str, start: str | None = None) -> str:
        # UNION (not UNION ALL) keeps diamond-shaped histories from multiplying rows.
        if start is None:
            start = (
                "= (SELECT mv.id FROM mr_model_versions mv JOIN mr_models m "
                "ON m.id = mv.model_id WHERE m.name = :name AND mv.version = :version)"
            )
        return (
            "WITH RECURSIVE chain (version_id, depth) AS ("
            f"SELECT l.{far}, 1 FROM mr_model_lineage l WHERE l.{near} {start} "
            f"UNION SELECT l.{far}, c.depth + 1 FROM mr_model_lineage l "
            f"JOIN chain c ON l.{near} = c.version_id WHERE c.depth < {LINEAGE_MAX_DEPTH}) "
            f"SELECT {VERSION_COLUMNS}, {self._attribute_columns(d)}, d.depth FROM "
            "(SELECT version_id, MIN(depth) AS depth FROM chain GROUP BY version_id) d "
            "JOIN mr_model_versions mv ON mv.id = d.version_id "
            "JOIN mr_models m ON m.id = mv.model_id "
            f"ORDER BY d.depth, m.name, {self._version_order}"
        )

    def save_in_one_statement(self, tags: int, metrics: int) -> str:
        """A whole save as one statement, for dialects with data-modifying WITH clauses: the
        counter bumped under the model's row lock, the version row, `tags` tags (:a0, :b0...)
        and `metrics` metrics (:c0, :e0...), and from schema 008 its event (:ea0...). Returns
        (id, version) of the new row, or nothing when the model does not exist yet."""
        steps = [
            "c AS (UPDATE mr_models SET last_version = last_version + 1, updated_at = :now "
            "WHERE name = :name RETURNING id, last_version)",
            "v AS (INSERT INTO mr_model_versions (model_id, version, description, storage_path, "
            "file_size_bytes, checksum, created_at) SELECT id, CAST(last_version AS TEXT), "
            ":description, :storage_path, :file_size_bytes, :checksum, :now FROM c "
            "RETURNING id, version)",
        ]
        if tags:
            rows = ", ".join(f"(:a{i}, :b{i})" for i in range(tags))
            steps.append(
                "t AS (INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) "
                f"SELECT v.id, x.k, x.val FROM v, (VALUES {rows}) AS x (k, val))"
            )
        if metrics:
            rows = ", ".join(f"(:c{i}, :e{i})" for i in range(metrics))
            steps.append(
                "x AS (INSERT INTO mr_model_metrics (model_version_id, metric_name, "
                f"metric_value) SELECT v.id, y.k, y.val FROM v, (VALUES {rows}) AS y (k, val))"
            )
        if self.level >= EVENTS:  # its version.created event, numbered last
            steps += self.events.save_steps()
        return f"WITH {', '.join(steps)} SELECT id, version FROM v"

    # -- moving a registry: whole models in batches (export_models, import_model) ----------
    # A batch of models costs one statement per table for its models, versions, aliases and
    # tags of its own, and one per table per CHUNK versions for their tags, metrics and edges.
    @staticmethod
    def _ids(count: int, prefix: str = "i") -> str:
        return ", ".join(f":{prefix}{i}" for i in range(count))

    def _transfers(self, d: Dialect) -> None:
        """Moving a registry: the fixed statements (the counted ones are methods below)."""
        #: the columns of an exported model: _EXPORT_MODEL, then its uid (NULL before 007)
        uid = "uid" if self.level >= IDENTITIES else "NULL"
        self._export_model = f"SELECT {_EXPORT_MODEL}, {uid} FROM mr_models"
        #: the next EXPORT_BATCH models after id :after, in creation (id) order
        self.export_model_page = (
            f"{self._export_model} WHERE id > :after ORDER BY id LIMIT {EXPORT_BATCH}"
        )
        #: a model written with its own fields, counter and identity (import_model)
        uid_column, uid_value = self._uid
        self.import_model_row = d.returning_id(
            "INSERT INTO mr_models (name, description, created_at, updated_at, last_version"
            f"{uid_column}) VALUES (:name, :description, :created_at, :updated_at, "
            f":last_version{uid_value})"
        )
        #: a model's row brought to the copy's: its name (a rename in the source), fields,
        #: identity, and counter, which never goes down (a save may have bumped it since)
        uid_set = ", uid = :uid" if self.level >= IDENTITIES else ""
        self.update_imported_model = (
            "UPDATE mr_models SET name = :name, description = :description, "
            f"updated_at = :updated_at{uid_set}, last_version = CASE WHEN last_version > "
            ":last_version THEN last_version ELSE :last_version END WHERE id = :model_id"
        )
        #: the model that has identity :uid (schema 007)
        self.model_by_uid = f"{self._export_model} WHERE uid = :uid"
        self.model_by_id = f"{self._export_model} WHERE id = :model_id"
        self.version_ids = "SELECT id, version FROM mr_model_versions WHERE model_id = :model_id"
        self.delete_model_tags = "DELETE FROM mr_registered_model_tags WHERE model_id = :model_id"

    def export_models_named(self, count: int) -> str:
        """The models named :n0, :n1, ..."""
        return f"{self._export_model} WHERE name IN ({self._ids(count, 'n')}) ORDER BY id"

    def export_versions(self, count: int) -> str:
        """(id, model id, number, description, path, size, checksum, created_at) of every
        version of models :i0..., in creation (id) order."""
        return (
            "SELECT id, model_id, version, description, storage_path, file_size_bytes, "
            f"checksum, created_at FROM mr_model_versions WHERE model_id IN ({self._ids(count)}) "
            "ORDER BY id"
        )

    # The attributes of versions are read by version id (:i0, :i1, ... CHUNK at a time):
    # lookups on the leading column of their unique keys, which every planner takes, even on
    # tables just filled whose statistics say nothing yet (a copy's target, read again).
    def export_version_tags(self, count: int) -> str:
        """(version id, key, value) of the tags of versions :i0..."""
        return (
            "SELECT model_version_id, tag_key, tag_value FROM mr_model_tags "
            f"WHERE model_version_id IN ({self._ids(count)})"
        )

    def export_metrics(self, count: int) -> str | None:
        """(version id, name, value) of the metrics of versions :i0..."""
        if self.level < METRICS:
            return None
        return (
            "SELECT model_version_id, metric_name, metric_value FROM mr_model_metrics "
            f"WHERE model_version_id IN ({self._ids(count)})"
        )

    def export_edges(self, count: int) -> str | None:
        """(child version id, parent version id) of the lineage edges of versions :i0..."""
        if self.level < LINEAGE:
            return None
        return (
            "SELECT child_version_id, parent_version_id FROM mr_model_lineage "
            f"WHERE child_version_id IN ({self._ids(count)})"
        )

    def export_version_names(self, count: int) -> str:
        """(id, model name, version) of versions :i0... (parents in other models)."""
        return (
            f"SELECT mv.id, m.name, mv.version {_VERSION_FROM} WHERE mv.id IN ({self._ids(count)})"
        )

    def export_aliases(self, count: int) -> str | None:
        """(model id, alias, version, updated_at) of the aliases of models :i0..."""
        if self.level < ALIASES:
            return None
        return (
            "SELECT a.model_id, a.alias, mv.version, a.updated_at FROM mr_model_aliases a "
            "JOIN mr_model_versions mv ON mv.id = a.model_version_id "
            f"WHERE a.model_id IN ({self._ids(count)})"
        )

    def export_model_tags(self, count: int) -> str | None:
        """(model id, key, value) of the tags of models :i0... themselves."""
        if self.level < MODEL_TAGS:
            return None
        return (
            "SELECT model_id, tag_key, tag_value FROM mr_registered_model_tags "
            f"WHERE model_id IN ({self._ids(count)})"
        )

    @staticmethod
    def path_owners(count: int) -> str:
        """(path, model id, model name) of the versions of models other than :model_id that
        point at the files :p0, :p1, ... (the storage_path index of schema 007)."""
        return (
            f"SELECT mv.storage_path, m.id, m.name {_VERSION_FROM} "
            f"WHERE mv.storage_path IN ({Queries._ids(count, 'p')}) AND m.id <> :model_id"
        )

    @staticmethod
    def paths_in_use(count: int) -> str:
        """Which of the files :p0, :p1, ... some version points at."""
        return (
            "SELECT DISTINCT storage_path FROM mr_model_versions "
            f"WHERE storage_path IN ({Queries._ids(count, 'p')})"
        )

    @staticmethod
    def delete_version_rows(table: str, count: int) -> str:
        """Deletes the rows of `table` (tags or metrics: our own table names, never input)
        of versions :i0, :i1, ... (before they are written again as the copy has them)."""
        return f"DELETE FROM {table} WHERE model_version_id IN ({Queries._ids(count)})"

    @staticmethod
    def import_versions(count: int) -> str:
        """One INSERT of `count` versions of model :model_id with their own numbers and times:
        :v0 (number), :d0 (description), :p0 (path), :s0 (size), :c0 (checksum), :t0 (time)."""
        rows = ", ".join(
            f"(:model_id, :v{i}, :d{i}, :p{i}, :s{i}, :c{i}, :t{i})" for i in range(count)
        )
        return (
            "INSERT INTO mr_model_versions (model_id, version, description, storage_path, "
            f"file_size_bytes, checksum, created_at) VALUES {rows}"
        )

    @staticmethod
    def delete_aliases(count: int) -> str:
        """Deletes aliases :n0, :n1... of model :model_id (before they are written again)."""
        return (
            "DELETE FROM mr_model_aliases WHERE model_id = :model_id "
            f"AND alias IN ({Queries._ids(count, 'n')})"
        )

    @staticmethod
    def version_ids_of(count: int) -> str:
        """(model name, version, id) of the versions (:pn0, :pv0), (:pn1, :pv1)..."""
        pairs = Queries._version_pairs(count)
        return f"SELECT m.name, mv.version, mv.id {_VERSION_FROM} WHERE {pairs}"

    @staticmethod
    def parents_condition(count: int) -> str:
        """The WHERE tail of insert_parents_prefix for `count` (name, version) pairs."""
        return Queries._version_pairs(count) + ")"

    @staticmethod
    def _version_pairs(count: int) -> str:
        """Versions (:pn0, :pv0), (:pn1, :pv1)... by model name and number: the ORs nested as
        a balanced tree, whose depth grows with log2(count), not count (SQLite refuses an
        expression deeper than 1,000: https://sqlite.org/limits.html#max_expr_depth)."""
        terms = [f"(m.name = :pn{i} AND mv.version = :pv{i})" for i in range(count)]
        while len(terms) > 2:
            pairs = [f"({a} OR {b})" for a, b in zip(terms[::2], terms[1::2], strict=False)]
            terms = pairs + terms[len(pairs) * 2 :]
        return " OR ".join(terms)

    @staticmethod
    def row_count(table: str) -> str:
        """Rows in one of our own tables (names come from registry-core, never from input)."""
        return f"SELECT COUNT(*) FROM {table}"
