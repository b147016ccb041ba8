"""The one implementation of MetadataBackend over the shared SQL layer: every API call as the
fewest statements that keep it correct, written once with `:name` parameters in `sql.py`.

A backend module subclasses `SQLMetadataBackend` and supplies only what truly differs: how to
open connections (`_open`, `_checkout`, `_close`), the migration lock (`_migration_lock`) and
its Dialect. Here each call is a short door: transactions and retries live in
`transactions.py`, migrations in `schema.py`, a save in `save.py`, a search page in `search.py`,
the copy's database side in `sqltransfer.py` (reading) and `sqlimport.py` (writing), and
building records from rows in `rows.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from registry_core import events as events_
from registry_core import filters, lineage, search, sqlimport, sqltransfer, validate
from registry_core import rows as rows_
from registry_core.backend import CAPABILITIES, Direction
from registry_core.dialect import Dialect, ErrorKind
from registry_core.errors import (
    BackendUnavailableError,
    InvalidInputError,
    NotFoundError,
)
from registry_core.filters import Target
from registry_core.migrator import Migration, load_migrations
from registry_core.records import (
    DatabaseStats,
    ExportedModel,
    FrozenDict,
    ImportResult,
    Model,
    ModelVersion,
    Page,
    RegistryStats,
    VersionFile,
)
from registry_core.session import Session, StatementCounter
from registry_core.sql import (
    ALIASES,
    CHUNK,
    LINEAGE,
    METRICS,
    REGISTRY,
    Queries,
)
from registry_core.sqlwrites import Writes
from registry_core.transactions import RetryTransaction
from registry_core.urls import DatabaseURL

log = logging.getLogger("registry_core")
T = TypeVar("T")

#: our tables, for row counts in database_stats()
TABLES = (
    "mr_models",
    "mr_model_versions",
    "mr_model_tags",
    "mr_model_metrics",
    "mr_model_lineage",
    "mr_model_aliases",
    "mr_registered_model_tags",
    "mr_registry",
    "mr_events",
    "mr_event_feed",
    "mr_consumers",
    "schema_migrations",
)


class SQLMetadataBackend(Writes):
    """MetadataBackend for any database with a Dialect and a DB-API driver."""

    capabilities = CAPABILITIES  # every optional feature: one implementation for all

    def __init__(self, url: str | DatabaseURL) -> None:
        self.url = type(self).parse_url(url) if isinstance(url, str) else url
        self.statements = StatementCounter()
        self._closed = False
        self.dialect: Dialect = self._open()
        self.migrations: list[Migration] = load_migrations()
        self._queries: Queries | None = None
        #: who makes this backend's changes, as its events record (connect(actor=...))
        self.actor: str = events_.default_actor()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url.masked()!r})"

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Runs one SQL statement of the caller's (`:name` parameters) and returns its rows;
        for monitoring and ad-hoc reports, e.g. the seed's queries."""
        return self._run(partial(_all, sql, params or {}), write=False, transaction=False)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Runs one statement of the caller's that returns no rows (DDL, INSERT, UPDATE...)
        in its own transaction; returns the number of rows it matched."""
        return self._run(lambda s: s.rowcount(sql, params))

    # -- models ---------------------------------------------------------------------------
    def get_model(self, name: str) -> Model:
        name = validate.name(name)

        def work(s: Session) -> Model:
            row = s.one(self.queries.get_model, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            return rows_.model(row)

        return self._run(work, write=False, transaction=False)

    def list_models(self) -> list[Model]:
        return self._run(
            lambda s: [rows_.model(r) for r in s.all(self.queries.list_models)],
            write=False,
            transaction=False,
        )

    # -- search -----------------------------------------------------------------------------
    def search_versions(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        page = self._search("versions", filter, order_by, page_size, page_token)
        return Page(self._read(lambda s: self._versions(s, page.rows(s))), page.next_token())

    def search_models(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Model]:
        page = self._search("models", filter, order_by, page_size, page_token)
        models = self._run(
            lambda s: [rows_.model(r) for r in page.rows(s)], write=False, transaction=False
        )
        return Page(models, page.next_token())

    def _search(
        self,
        target: Target,
        text: str | None,
        order_by: str | Sequence[str] | None,
        size: Any,
        page_token: str | None,
    ) -> search.PageQuery:
        """One page's statement (`search.PageQuery`), after checking that the schema has
        the tables the filter and order need."""
        size = search.page_size(size)
        node = filters.parse(text, target)
        for level, feature in search.features(target, node, order_by):
            self._require(level, feature)
        q = self.queries
        return search.PageQuery(target, self.dialect, q, node, order_by, size, page_token)

    # -- versions ---------------------------------------------------------------------------

    def get_version(
        self,
        name: str,
        version: str | None = None,
        *,
        alias: str | None = None,
        as_of: Any = None,
    ) -> ModelVersion:
        name = validate.name(name)
        number = None if version is None else validate.version(version)
        if as_of is not None:
            if alias is None or number is not None:
                raise InvalidInputError("as_of goes with an alias (and no version)")
            return self._version_as_of(name, validate.alias(alias), as_of)
        if alias is not None:
            if number is not None:
                raise InvalidInputError("give a version or an alias, not both")
            alias = validate.alias(alias)
            self._require(ALIASES, "aliases")
        q = self.queries
        if alias is not None:
            sql, params, what = (
                q.get_version_by_alias,
                {"name": name, "alias": alias},
                f"alias {alias!r}",
            )
        elif number is None:
            sql, params, what = q.get_latest_version, {"name": name}, "versions"
        else:
            sql, params, what = (
                q.get_version,
                {"name": name, "version": number},
                f"version {number}",
            )

        def work(s: Session) -> ModelVersion:
            row = s.one(sql, params)
            if row is None:
                raise self._missing(s, name, what)
            return self._versions(s, [row])[0]

        return self._read(work)

    def _version_as_of(self, name: str, alias: str, when: Any) -> ModelVersion:
        """The version `alias` pointed at `when`: as it is now if it still exists, else as
        its version.created event recorded it."""
        number, created = self.alias_as_of(name, alias, when)
        try:
            return self.get_version(name, number)
        except NotFoundError:
            if created is None:
                raise
        d = created.detail
        return ModelVersion(
            name,
            number,
            d.get("description"),
            str(d.get("storage_path")),
            int(d.get("size") or 0),
            created.at,
            FrozenDict(sorted(dict(d.get("tags") or {}).items())),
            d.get("checksum"),
            FrozenDict(sorted(dict(d.get("metrics") or {}).items())),
            (),
        )

    def list_versions(self, name: str) -> list[ModelVersion]:
        name = validate.name(name)

        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(self.queries.list_versions, {"name": name})
            if not rows and s.one(self.queries.model_exists, {"name": name}) is None:
                raise NotFoundError(f"no model named {name!r}")
            return self._versions(s, rows)

        return self._read(work)

    def latest_versions(self) -> list[ModelVersion]:
        return self._read(lambda s: self._versions(s, s.all(self.queries.latest_versions)))

    def find_by_tag(self, key: str, value: str | None = None) -> list[ModelVersion]:
        key = validate.tag_key(key)
        value = validate.tag_value(value)
        q = self.queries
        if value is None:
            sql, params = q.find_by_tag_key, {"key": key}
        else:
            sql, params = q.find_by_tag_value, {"key": key, "value": value}
        return self._read(lambda s: self._versions(s, s.all(sql, params)))

    def best_version(
        self, name: str, metric: str, *, higher_is_better: bool = True
    ) -> ModelVersion:
        name = validate.name(name)
        metric = validate.tag_key(metric)
        self._require(METRICS, "metrics")
        q = self.queries
        sql = q.best_version_highest if higher_is_better else q.best_version_lowest

        def work(s: Session) -> ModelVersion:
            row = s.one(sql, {"name": name, "metric": metric})
            if row is None:
                raise self._missing(s, name, f"version with metric {metric!r}")
            return self._versions(s, [row])[0]

        return self._read(work)

    def lineage(
        self, name: str, version: str, *, direction: Direction = "ancestors"
    ) -> list[ModelVersion]:
        name, number = validate.name(name), validate.version(version)
        if direction not in ("ancestors", "descendants"):
            raise InvalidInputError(f"direction is 'ancestors' or 'descendants', not {direction!r}")
        self._require(LINEAGE, "lineage")
        q = self.queries
        sql = q.ancestors if direction == "ancestors" else q.descendants

        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(sql, {"name": name, "version": number})
            if not rows:  # none, or no such version: only then a second statement
                self._version_row(s, name, number)
            return self._versions(s, lineage.deeper(s, q, rows, direction))

        return self._read(work)

    # -- tags -----------------------------------------------------------------------------

    # -- aliases ---------------------------------------------------------------------------

    def version_files(self) -> Iterator[VersionFile]:
        after = 0
        while True:
            page = partial(_all, self.queries.version_files, {"after": after})
            rows = self._run(page, write=False, transaction=False)
            for name, number, path, size, checksum, _ in rows:
                yield VersionFile(name, str(number), path, int(size or 0), checksum)
            if len(rows) < CHUNK:
                return
            after = int(rows[-1][5])

    # -- moving a registry: doors into registry_core.sqltransfer and sqlimport -------------
    def export_models(self, names: Sequence[str] | None = None) -> Iterator[ExportedModel]:
        wanted: list[str] | None = None
        if names is not None:
            if isinstance(names, (str, bytes)):
                raise InvalidInputError("names is a list of model names, not one string")
            wanted = list(dict.fromkeys(validate.name(n) for n in names))
        if self._closed:
            raise BackendUnavailableError(f"{self!r} is closed")
        return self._export(wanted)

    def _export(self, names: list[str] | None) -> Iterator[ExportedModel]:
        """The generator behind export_models: one snapshot for the whole iteration."""
        q = self.queries
        with self._snapshot() as s:
            yield from sqltransfer.export(s, q, names)

    def import_model(
        self,
        model: ExportedModel,
        *,
        before_write: sqlimport.BeforeWrite | None = None,
        dry_run: bool = False,
    ) -> ImportResult:
        if not isinstance(model, ExportedModel):
            raise InvalidInputError(f"import_model takes an ExportedModel, not {model!r}")
        sqltransfer.check_import(model)
        if dry_run:  # the plan alone, read at this database's schema level as it is
            return self._run(
                lambda s: sqlimport.dry_result(
                    s, self.queries, sqlimport.plan(s, self.queries, model)
                ),
                write=False,
            )
        for level, feature in sqltransfer.features(model):
            self._require(level, feature)
        placed: set[str] = set()
        if before_write is not None:
            # The files first, outside any transaction (an upload of gigabytes must not hold
            # the write lock, which on SQLite is the whole database's): the versions this
            # database lacks now, after the same comparison the write makes.
            new = self._run(lambda s: sqlimport.plan(s, self.queries, model).new, write=False)
            if new:
                before_write(new)
                placed = {v.version for v in new}

        def work(s: Session) -> ImportResult:
            q = self.queries
            try:
                return sqlimport.write(s, q, sqlimport.plan(s, q, model), before_write, placed)
            except self.dialect.driver_errors() as exc:
                if self.dialect.classify(exc) is ErrorKind.UNIQUE:
                    # another copy wrote this model's rows since this transaction compared
                    # (it waited for that one to commit): compare again and write the rest
                    raise RetryTransaction(f"{model.name!r} was written meanwhile") from exc
                raise

        return self._run(work)

    def paths_in_use(self, paths: Sequence[str]) -> set[str]:
        wanted = sorted(set(paths))

        def work(s: Session) -> set[str]:
            used: set[str] = set()
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                params = {f"p{i}": p for i, p in enumerate(chunk)}
                used.update(r[0] for r in s.all(Queries.paths_in_use(len(chunk)), params))
            return used

        return self._run(work, write=False) if wanted else set()

    # -- the registry itself ----------------------------------------------------------------
    def registry_identity(self) -> tuple[str | None, str | None]:
        if not self._has(REGISTRY):
            return None, None
        row = self._run(lambda s: s.one(self.queries.registry_identity), write=False)
        return (None, None) if row is None else (str(row[0]), row[1])

    def record_artifacts_location(self, location: str) -> str | None:
        if not self._has(REGISTRY):
            return None

        def work(s: Session) -> str | None:
            s.rowcount(self.queries.record_artifacts, {"artifacts": location})
            row = s.one(self.queries.registry_identity)
            return None if row is None else row[1]

        return self._run(work)

    # -- statistics ---------------------------------------------------------------------------
    def stats(self) -> RegistryStats:
        def work(s: Session) -> RegistryStats:
            models, versions, total, _ = s.one(self.queries.stats) or (0, 0, None, None)
            # the mean from the exact sum and count: MariaDB's AVG of integers keeps only
            # 4 decimals (div_precision_increment)
            mean = int(total or 0) / int(versions) if versions else 0.0
            return RegistryStats(int(models), int(versions), int(total or 0), mean)

        return self._run(work, write=False, transaction=False)

    def refresh_statistics(self) -> None:
        d = self.dialect

        def work(s: Session) -> None:
            for table in TABLES:
                if s.one(d.table_exists_sql, {"name": table}) is not None:
                    s.discard(d.analyze_table.format(table=table))

        self._run(work, transaction=False)

    def database_stats(self) -> DatabaseStats:
        d = self.dialect

        def work(s: Session) -> DatabaseStats:
            size = int(s.scalar(d.database_size_sql) or 0) if d.database_size_sql else 0
            counts: dict[str, int] = {}
            for table in TABLES:
                if s.one(d.table_exists_sql, {"name": table}) is not None:
                    counts[table] = int(s.scalar(Queries.row_count(table)))
            schema = None
            if "schema_migrations" in counts:
                schema = s.scalar("SELECT MAX(version) FROM schema_migrations WHERE dirty = 0")
            identity = s.one(self.queries.registry_identity) if "mr_registry" in counts else None
            return DatabaseStats(
                self.name,
                self.server,
                None if schema is None else str(schema),
                size,
                counts,
                self.url.masked(),
                self.driver,
                None if identity is None else str(identity[0]),
            )

        return self._run(work, write=False)


def _all(sql: str, params: Mapping[str, Any], s: Session) -> list[tuple[Any, ...]]:
    return s.all(sql, params)
