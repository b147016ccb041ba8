"""The one implementation of MetadataBackend over the shared SQL layer: every API call as the
fewest statements that keep it correct, written once with `:name` parameters in `sql.py`.

A backend module subclasses `SQLMetadataBackend` and supplies only what truly differs: how to
open connections (`_open`, `_checkout`, `_close`), the migration lock (`_migration_lock`) and
its Dialect. Transactions and retries live in `runner.py`, migrations in `schema.py`, and
building records from rows in `rows.py`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypeVar

from registry_core import filters, search, validate
from registry_core import rows as rows_
from registry_core.backend import Direction
from registry_core.dialect import Dialect, ErrorKind
from registry_core.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    InvalidInputError,
    NotFoundError,
)
from registry_core.filters import Target
from registry_core.migrator import Migration, load_migrations
from registry_core.records import (
    DatabaseStats,
    ExportedAlias,
    ExportedModel,
    ExportedVersion,
    FrozenDict,
    ImportResult,
    Model,
    ModelVersion,
    Page,
    RegistryStats,
    VersionFile,
)
from registry_core.runner import NotCommitted, RetryTransaction
from registry_core.schema import Schema
from registry_core.session import Session, StatementCounter, TimedOut, utc_now
from registry_core.sql import (
    ALIASES,
    CHUNK,
    EXPORT_BATCH,
    LINEAGE,
    METRICS,
    MODEL_TAGS,
    Queries,
)
from registry_core.urls import DatabaseURL, parse_url

log = logging.getLogger("registry_core")
T = TypeVar("T")

#: rows per multi-row INSERT of an import: versions take 7 parameters a row, the others 2-4,
#: which keeps every statement under 3,000 parameters (SQLite's limit is 32,766)
IMPORT_VERSION_ROWS, IMPORT_ROWS = 400, 700

#: our tables, for row counts in database_stats()
TABLES = (
    "mr_models",
    "mr_model_versions",
    "mr_model_tags",
    "mr_model_metrics",
    "mr_model_lineage",
    "mr_model_aliases",
    "mr_registered_model_tags",
    "schema_migrations",
)


class SQLMetadataBackend(Schema):
    """MetadataBackend for any database with a Dialect and a DB-API driver."""

    def __init__(self, url: str | DatabaseURL) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.statements = StatementCounter()
        self._closed = False
        self.dialect: Dialect = self._open()
        self.migrations: list[Migration] = load_migrations()
        self._queries: Queries | None = None

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

    # -- helpers --------------------------------------------------------------------------
    def _read(self, work: Callable[[Session], T]) -> T:
        """A read: one statement in autocommit, or on dialects whose metrics come from a
        second statement (SQLite: in-process, no round trip) one read transaction."""
        return self._run(work, write=False, transaction=not self.dialect.exact_json_doubles)

    def _versions(self, s: Session, rows: list[tuple[Any, ...]]) -> list[ModelVersion]:
        """Version rows as records; reads the metrics where the JSON column cannot carry
        them exactly (one statement per CHUNK versions)."""
        if self.dialect.exact_json_doubles or not rows or self.queries.level < METRICS:
            return [rows_.version(r) for r in rows]
        exact: dict[int, dict[str, float]] = {}
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            params = {f"i{j}": r[rows_.ID] for j, r in enumerate(chunk)}
            for vid, key, value in s.all(self.queries.metrics_of_ids(len(chunk)), params):
                exact.setdefault(vid, {})[key] = float(value)
        return [rows_.version(r, exact) for r in rows]

    def _missing(self, s: Session, name: str, what: str) -> NotFoundError:
        """NotFoundError naming the model, or `what` of an existing model."""
        if s.one(self.queries.model_exists, {"name": name}) is None:
            return NotFoundError(f"no model named {name!r}")
        return NotFoundError(f"model {name!r} has no {what}")

    def _version_row(self, s: Session, name: str, version: str) -> tuple[Any, ...]:
        """VERSION_COLUMNS of one version, for the writes that need its id."""
        row = s.one(self.queries.version_row, {"name": name, "version": version})
        if row is None:
            raise self._missing(s, name, f"version {version}")
        return row

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

    def update_version(self, name: str, version: str, *, description: str | None) -> ModelVersion:
        name, number = validate.name(name), validate.version(version)
        description = validate.description(description)

        def work(s: Session) -> ModelVersion:
            row = self._version_row(s, name, number)
            s.rowcount(
                self.queries.update_version,
                {"description": description, "version_id": row[rows_.ID]},
            )
            s.rowcount(self.queries.touch_model, {"name": name, "now": utc_now()})
            updated = s.one(self.queries.get_version, {"name": name, "version": number})
            return self._versions(s, [updated or row])[0]

        return self._run(work)

    def update_model(self, name: str, *, description: str | None) -> Model:
        name = validate.name(name)
        description = validate.description(description)

        def work(s: Session) -> Model:
            params = {"name": name, "description": description, "now": utc_now()}
            if s.rowcount(self.queries.update_model, params) == 0:
                raise NotFoundError(f"no model named {name!r}")
            return rows_.model(s.one(self.queries.get_model, {"name": name}) or ())

        return self._run(work)

    def delete_model(self, name: str) -> list[str]:
        name = validate.name(name)

        def work(s: Session) -> list[str]:
            paths = [r[0] for r in s.all(self.queries.model_storage_paths, {"name": name})]
            if s.rowcount(self.queries.delete_model, {"name": name}) == 0:
                raise NotFoundError(f"no model named {name!r}")
            return paths

        return self._run(work)

    def rename_model(self, name: str, new_name: str) -> Model:
        name, new_name = validate.name(name), validate.name(new_name)

        def work(s: Session) -> Model:
            params = {"name": name, "new_name": new_name, "now": utc_now()}
            if name != new_name and s.one(self.queries.model_exists, {"name": new_name}):
                raise AlreadyExistsError(f"a model named {new_name!r} exists already")
            if s.rowcount(self.queries.rename_model, params) == 0:
                raise NotFoundError(f"no model named {name!r}")
            return rows_.model(s.one(self.queries.get_model, {"name": new_name}) or ())

        return self._run(work)

    def set_model_tag(self, name: str, key: str, value: str | None) -> None:
        name, key, value = validate.name(name), validate.tag_key(key), validate.tag_value(value)
        self._require(MODEL_TAGS, "model tags")

        def work(s: Session) -> None:
            row = s.one(self.queries.model_exists, {"name": name})
            if row is None:
                raise NotFoundError(f"no model named {name!r}")
            params = {"model_id": row[0], "tag_key": key, "tag_value": value}
            s.rowcount(self.queries.upsert_model_tag, params)

        self._run(work)

    def delete_model_tag(self, name: str, key: str) -> None:
        name, key = validate.name(name), validate.tag_key(key)
        self._require(MODEL_TAGS, "model tags")

        def work(s: Session) -> None:
            if s.rowcount(self.queries.delete_model_tag, {"name": name, "key": key}) == 0:
                if s.one(self.queries.model_exists, {"name": name}) is None:
                    raise NotFoundError(f"no model named {name!r}")
                raise NotFoundError(f"model {name!r} has no tag {key!r}")

        self._run(work)

    # -- search -----------------------------------------------------------------------------
    def search_versions(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        rows, token = self._search("versions", filter, order_by, page_size, page_token)
        return Page(self._read(lambda s: self._versions(s, rows(s))), token())

    def search_models(
        self,
        filter: str | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[Model]:
        rows, token = self._search("models", filter, order_by, page_size, page_token)
        return Page(
            self._run(lambda s: [rows_.model(r) for r in rows(s)], write=False, transaction=False),
            token(),
        )

    def _search(
        self,
        target: Target,
        text: str | None,
        order_by: str | Sequence[str] | None,
        size: Any,
        page_token: str | None,
    ) -> tuple[Callable[[Session], list[tuple[Any, ...]]], Callable[[], str | None]]:
        """(a function reading one page's rows, a function giving the next page's token once
        that ran): one statement, its filter, keyset and order compiled by `search`."""
        size = search.page_size(size)
        node = filters.parse(text, target)
        if target == "models" and _uses(node, "tags"):
            self._require(MODEL_TAGS, "model tags")
        if _uses(node, "alias"):
            self._require(ALIASES, "aliases")
        if _uses(node, "metrics") or any(str(o).startswith("metrics.") for o in _items(order_by)):
            self._require(METRICS, "metrics")
        compiler = search.Compiler(target, self.dialect)
        params = search._Params()
        # first: their joins come before WHERE
        keys = compiler.sort_keys(order_by, params, search.required_metrics(node))
        where = compiler.where(node, params)
        bound = search.fingerprint(target, node, keys)
        if page_token is not None:
            values, last_id = search.read_token(page_token, bound, keys)
            where = f"{where} AND {compiler.after(keys, values, last_id, params)}"
        q = self.queries
        base, source = (
            (q.version_select, q.version_from) if target == "versions" else (q.model_select, "")
        )
        joins = "".join(f" {k.join}" for k in keys if k.join)
        # A deferred join: the page's ids and sort keys first (index work only), then the
        # records of those rows alone. In one SELECT, MySQL and MariaDB build every matching
        # row's JSON aggregates before they sort and cut the page (MariaDB, a page of 100 out
        # of 50,000 matches: 0.9 s, this way 0.14 s; see benchmarks/explain_search.py).
        picked = ", ".join(f"{k.sql} AS rc_k{i}" for i, k in enumerate(keys))
        page = (
            f"SELECT {compiler.row} AS rc_id, {picked} FROM mr_models m{source}{joins} "
            f"WHERE {where} ORDER BY {compiler.order_sql(keys)} LIMIT {size + 1}"
        )
        outer = [replace(k, sql=f"p.rc_k{i}") for i, k in enumerate(keys)]
        extra = "".join(f", p.rc_k{i}" for i in range(len(keys)))
        sql = (
            f"{base.replace('SELECT ', f'SELECT p.rc_id{extra}, ', 1)} "
            f"JOIN ({page}) p ON p.rc_id = {compiler.row} "
            f"ORDER BY {compiler.order_sql(outer, row='p.rc_id')}"
        )
        lead = 1 + len(keys)  # rc_id and the sort keys come first; the record's columns after
        state: dict[str, Any] = {}

        def rows(s: Session) -> list[tuple[Any, ...]]:
            found = s.all(sql, params.values)
            state["more"] = len(found) > size
            page = found[:size]
            state["last"] = page[-1][:lead] if page else None
            return [r[lead:] for r in page]

        def token() -> str | None:
            if not state.get("more"):
                return None
            last = state["last"]
            values = [_plain(v) for v in last[1:]]
            return search.make_token(bound, values, int(last[0]))

        return rows, token

    # -- versions ---------------------------------------------------------------------------
    def create_version(
        self,
        name: str,
        *,
        description: str | None,
        tags: Mapping[str, str | None],
        file_size_bytes: int,
        checksum: str,
        storage_path: str,
        metrics: Mapping[str, float] | None = None,
        parents: Sequence[tuple[str, str]] = (),
    ) -> ModelVersion:
        name = validate.name(name)
        description = validate.description(description)
        tag_map = validate.tags(tags)
        metric_map = validate.metrics(metrics)
        parent_list = validate.parents(parents)
        if not isinstance(storage_path, str) or not storage_path:
            raise InvalidInputError("storage_path must be a non-empty string")
        if metric_map:
            self._require(METRICS, "metrics")
        if parent_list:
            self._require(LINEAGE, "parents (lineage)")
        now = utc_now()
        params: dict[str, Any] = {
            "name": name,
            "key": name,
            "description": description,
            "storage_path": storage_path,
            "file_size_bytes": file_size_bytes,
            "checksum": checksum,
            "now": now,
        }

        def record(number: str) -> ModelVersion:
            return ModelVersion(
                name,
                number,
                description,
                storage_path,
                file_size_bytes,
                rows_.timestamp(now),
                FrozenDict(sorted(tag_map.items())),
                checksum,
                FrozenDict(sorted(metric_map.items())),
                (),
            )

        def one_statement(s: Session) -> ModelVersion | None:
            # PostgreSQL: counter, row, tags and metrics in one statement, which commits by
            # itself (no BEGIN/COMMIT round trips); None when the model is new
            sql = self.queries.save_in_one_statement(len(tag_map), len(metric_map))
            values = {**params, **_pairs("a", "b", tag_map), **_pairs("c", "e", metric_map)}
            row = s.committing(sql, values)
            return None if row is None else record(str(row[1]))

        def in_a_transaction(s: Session) -> ModelVersion:
            q = self.queries
            found, number = self.dialect.counter_value(s.execute(q.bump_counter, params))
            if not found:  # the model's first version: create it, with its counter at 1
                try:
                    s.insert(q.create_model, params)
                except self.dialect.driver_errors() as exc:
                    if self.dialect.classify(exc) is ErrorKind.UNIQUE:
                        raise RetryTransaction from exc  # another first save won the race
                    raise
                number = 1
            elif number is None:  # no RETURNING (SQLite before 3.35)
                number = int(s.scalar(q.read_counter, params))
            version = str(number)
            version_id = s.insert(q.insert_version, {**params, "version": version})
            for table, columns, pairs in (
                ("mr_model_tags", ("tag_key", "tag_value"), tag_map),
                ("mr_model_metrics", ("metric_name", "metric_value"), metric_map),
            ):  # one statement each (up to CHUNK rows, the most a save takes)
                rows = [(version_id, k, v) for k, v in pairs.items()]
                _insert_tuples(s, table, ("model_version_id", *columns), rows, CHUNK)
            if parent_list:
                self._link_parents(s, (name, version, version_id), parent_list)
            return record(version)

        def settle(s: Session) -> ModelVersion:
            # COMMIT's answer was lost: the row exists iff it committed (the path carries the
            # save's own token, so no other save has it)
            row = s.one(self.queries.version_by_path, params)
            if row is None:
                raise NotCommitted(f"the save of {name!r} was not recorded; nothing was saved")
            log.info("a COMMIT answer was lost; version %s of %r was committed", row[1], name)
            return record(str(row[1]))

        if self.dialect.writable_ctes and not parent_list:
            saved = self._run(one_statement, transaction=False, settle=settle)
            if saved is not None:
                return saved
        return self._run(in_a_transaction, settle=settle)

    def _link_parents(
        self, s: Session, child: tuple[str, str, int], parents: list[tuple[str, str]]
    ) -> None:
        """One INSERT ... SELECT of every lineage edge; NotFoundError if a parent is absent."""
        name, number, child_id = child
        if (name, number) in parents:
            raise InvalidInputError(f"version {number} of {name!r} cannot be its own parent")
        params: dict[str, Any] = {"child_id": child_id}
        for i, (pname, pversion) in enumerate(parents):
            params[f"pn{i}"], params[f"pv{i}"] = pname, pversion
        sql = self.queries.insert_parents_prefix + Queries.parents_condition(len(parents))
        if s.rowcount(sql, params) != len(parents):
            missing = [
                f"{n!r} version {v}"
                for n, v in parents
                if s.one(self.queries.version_row, {"name": n, "version": v}) is None
            ]
            raise NotFoundError(f"parent versions not found: {', '.join(missing)}")

    def get_version(
        self, name: str, version: str | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        name = validate.name(name)
        number = None if version is None else validate.version(version)
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

    def list_versions(self, name: str) -> list[ModelVersion]:
        name = validate.name(name)

        def work(s: Session) -> list[ModelVersion]:
            rows = s.all(self.queries.list_versions, {"name": name})
            if not rows and s.one(self.queries.model_exists, {"name": name}) is None:
                raise NotFoundError(f"no model named {name!r}")
            return self._versions(s, rows)

        return self._read(work)

    def delete_version(self, name: str, version: str) -> ModelVersion:
        name = validate.name(name)
        number = validate.version(version)

        def work(s: Session) -> ModelVersion:
            q = self.queries
            row = s.one(q.get_version, {"name": name, "version": number})
            if row is None:
                raise self._missing(s, name, f"version {number}")
            removed = self._versions(s, [row])[0]
            s.rowcount(q.delete_version, {"version_id": row[rows_.ID]})  # cascades
            s.rowcount(q.touch_model, {"name": name, "now": utc_now()})
            return removed

        return self._run(work)

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
            return self._versions(s, rows)

        return self._read(work)

    # -- tags -----------------------------------------------------------------------------
    def set_tag(self, name: str, version: str, key: str, value: str | None) -> None:
        name, number = validate.name(name), validate.version(version)
        key, value = validate.tag_key(key), validate.tag_value(value)

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            s.rowcount(
                self.queries.upsert_tag,
                {"model_version_id": row[rows_.ID], "tag_key": key, "tag_value": value},
            )

        self._run(work)

    def delete_tag(self, name: str, version: str, key: str) -> None:
        name, number, key = validate.name(name), validate.version(version), validate.tag_key(key)

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            if s.rowcount(self.queries.delete_tag, {"version_id": row[rows_.ID], "key": key}) == 0:
                raise NotFoundError(f"version {number} of {name!r} has no tag {key!r}")

        self._run(work)

    # -- aliases ---------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> None:
        name, alias, number = validate.name(name), validate.alias(alias), validate.version(version)
        self._require(ALIASES, "aliases")

        def work(s: Session) -> None:
            row = self._version_row(s, name, number)
            s.rowcount(
                self.queries.upsert_alias,
                {
                    "model_id": row[8],
                    "alias": alias,
                    "model_version_id": row[rows_.ID],
                    "updated_at": utc_now(),
                },
            )

        self._run(work)

    def delete_alias(self, name: str, alias: str) -> None:
        name, alias = validate.name(name), validate.alias(alias)
        self._require(ALIASES, "aliases")

        def work(s: Session) -> None:
            if s.rowcount(self.queries.delete_alias, {"name": name, "alias": alias}) == 0:
                raise self._missing(s, name, f"alias {alias!r}")

        self._run(work)

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

    # -- moving a registry ------------------------------------------------------------------
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
        """The generator behind export_models: one connection in one snapshot transaction
        (Dialect.begin_snapshot) for the whole iteration; driver errors wrapped."""
        self._resolve_schema()
        q = self.queries
        try:
            with self._checkout() as conn:
                s = Session(conn, self.dialect, self.statements, self._guard)
                try:
                    for statement in self.dialect.begin_snapshot:
                        s.control(statement)
                    try:
                        yield from self._export_in(s, q, names)
                    except BaseException:
                        self._rollback_quietly(s)
                        raise
                    s.commit()  # read only: ends the snapshot
                finally:
                    s.close()
        except TimedOut as exc:
            raise self._timed_out(exc) from exc.__cause__
        except self.dialect.driver_errors() as exc:
            raise self._wrap(exc) from exc

    def _export_in(
        self, s: Session, q: Queries, names: list[str] | None
    ) -> Iterator[ExportedModel]:
        if names is None:  # every model, EXPORT_BATCH at a time, keyset on the id
            after = 0
            while True:
                rows = s.all(q.export_model_page(), {"after": after})
                yield from self._whole_models(s, q, rows)
                if len(rows) < EXPORT_BATCH:
                    return
                after = int(rows[-1][0])
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(names), EXPORT_BATCH):
            chunk = names[start : start + EXPORT_BATCH]
            params = {f"n{i}": n for i, n in enumerate(chunk)}
            found += s.all(q.export_models_named(len(chunk)), params)
        missing = set(names) - {r[1] for r in found}
        if missing:
            listed = ", ".join(repr(n) for n in sorted(missing))
            raise NotFoundError(f"no model named {listed}")
        found.sort(key=lambda r: int(r[0]))
        for start in range(0, len(found), EXPORT_BATCH):
            yield from self._whole_models(s, q, found[start : start + EXPORT_BATCH])

    def _whole_models(
        self, s: Session, q: Queries, rows: Sequence[tuple[Any, ...]]
    ) -> list[ExportedModel]:
        """Models (rows of Queries.EXPORT_MODEL) whole: one statement per table for all."""
        if not rows:
            return []
        ids = [int(r[0]) for r in rows]
        params = {f"i{j}": i for j, i in enumerate(ids)}
        n = len(ids)
        versions: dict[int, list[tuple[Any, ...]]] = {}
        version_ids: list[int] = []
        #: (model name, version) of each version id seen, for the parents of edges
        names: dict[int, tuple[str, str]] = {}
        model_names = {int(r[0]): r[1] for r in rows}
        for r in s.all(q.export_versions(n), params):
            versions.setdefault(int(r[1]), []).append(r)
            version_ids.append(int(r[0]))
            names[int(r[0])] = (model_names[int(r[1])], str(r[2]))
        edges: list[tuple[int, int]] = []
        tags: dict[int, dict[str, str | None]] = {}
        metrics: dict[int, dict[str, float]] = {}
        parents: dict[int, list[tuple[str, str]]] = {}
        aliases: dict[int, list[ExportedAlias]] = {}
        model_tags: dict[int, dict[str, str | None]] = {}
        for start in range(0, len(version_ids), CHUNK):
            chunk = version_ids[start : start + CHUNK]
            by_id = {f"i{j}": i for j, i in enumerate(chunk)}
            for vid, key, value in s.all(q.export_version_tags(len(chunk)), by_id):
                tags.setdefault(int(vid), {})[key] = value
            sql = q.export_metrics(len(chunk))
            for vid, key, value in s.all(sql, by_id) if sql else ():
                metrics.setdefault(int(vid), {})[key] = float(value)
            sql = q.export_edges(len(chunk))
            edges += [(int(c), int(p)) for c, p in (s.all(sql, by_id) if sql else ())]
        # parents outside these models: two lookups by key (a join here would tempt planners
        # without statistics into scanning every version)
        others = sorted({p for _, p in edges if p not in names})
        for start in range(0, len(others), CHUNK):
            chunk = others[start : start + CHUNK]
            by_id = {f"i{j}": i for j, i in enumerate(chunk)}
            for vid, pname, pversion in s.all(q.export_version_names(len(chunk)), by_id):
                names[int(vid)] = (pname, str(pversion))
        for child, parent in edges:
            parents.setdefault(child, []).append(names[parent])
        sql = q.export_aliases(n)
        for mid, alias, number, at in s.all(sql, params) if sql else ():
            aliases.setdefault(int(mid), []).append(
                ExportedAlias(alias, str(number), rows_.timestamp(at))
            )
        sql = q.export_model_tags(n)
        for mid, key, value in s.all(sql, params) if sql else ():
            model_tags.setdefault(int(mid), {})[key] = value
        out = []
        for mid, name, description, created, updated, last in rows:
            mid = int(mid)
            out.append(
                ExportedModel(
                    name,
                    description,
                    rows_.timestamp(created),
                    rows_.timestamp(updated),
                    int(last or 0),
                    FrozenDict(sorted(model_tags.get(mid, {}).items())),
                    tuple(
                        ExportedVersion(
                            str(number),
                            vdesc,
                            path,
                            int(size or 0),
                            checksum,
                            rows_.timestamp(vcreated),
                            FrozenDict(sorted(tags.get(int(vid), {}).items())),
                            FrozenDict(sorted(metrics.get(int(vid), {}).items())),
                            tuple(sorted(parents.get(int(vid), []))),
                        )
                        for vid, _, number, vdesc, path, size, checksum, vcreated in versions.get(
                            mid, []
                        )
                    ),
                    tuple(sorted(aliases.get(mid, []), key=lambda a: a.alias)),
                )
            )
        return out

    def import_model(
        self,
        model: ExportedModel,
        *,
        before_write: Callable[[Sequence[ExportedVersion]], None] | None = None,
    ) -> ImportResult:
        if not isinstance(model, ExportedModel):
            raise InvalidInputError(f"import_model takes an ExportedModel, not {model!r}")
        _check_import(model)
        if any(v.metrics for v in model.versions):
            self._require(METRICS, "metrics")
        if any(v.parents for v in model.versions):
            self._require(LINEAGE, "lineage")
        if model.aliases:
            self._require(ALIASES, "aliases")
        if model.tags:
            self._require(MODEL_TAGS, "model tags")
        placed: set[str] = set()
        if before_write is not None:
            # The files first, outside any transaction (an upload of gigabytes must not hold
            # the write lock, which on SQLite is the whole database's): the versions this
            # database lacks now, after the same comparison the write makes.
            new = self._run(lambda s: self._compare(s, model)[2], write=False)
            if new:
                before_write(new)
                placed = {v.version for v in new}
        return self._run(lambda s: self._import(s, model, before_write, placed))

    def _compare(
        self, s: Session, m: ExportedModel
    ) -> tuple[Any, ExportedModel | None, tuple[ExportedVersion, ...]]:
        """(the model's row here or None, the model as this database has it or None, the
        versions of `m` it lacks); AlreadyExistsError if a version differs, or the model here
        is another of the same name."""
        row = s.one(self.queries.export_models_named(1), {"n0": m.name})
        have = self._whole_models(s, self.queries, [row])[0] if row else None
        if have is not None and have.created_at != m.created_at:
            raise AlreadyExistsError(
                f"model {m.name!r} exists here with another creation time "
                f"({have.created_at.isoformat()}, the copy's {m.created_at.isoformat()}): "
                f"another model of the same name; nothing of {m.name!r} was written"
            )
        here = {v.version: v for v in have.versions} if have else {}
        new: list[ExportedVersion] = []
        for v in m.versions:
            h = here.get(v.version)
            if h is None:
                new.append(v)
                continue
            differs = _differences(h, v)
            if differs:
                raise AlreadyExistsError(
                    f"version {v.version} of {m.name!r} exists here and differs from the "
                    f"copy ({', '.join(differs)}); nothing of {m.name!r} was written"
                )
        return row, have, tuple(new)

    def _import(
        self,
        s: Session,
        m: ExportedModel,
        before_write: Callable[[Sequence[ExportedVersion]], None] | None,
        placed: set[str],
    ) -> ImportResult:
        """The write of import_model, comparing again under the write lock; files of
        versions that went missing here since `placed` was put are put now."""
        q = self.queries
        row, have, new = self._compare(s, m)
        here = {v.version: v for v in have.versions} if have else {}
        edges_here = {(v.version, p) for v in here.values() for p in v.parents}
        edges = [(v.version, p) for v in m.versions for p in v.parents]
        edges = [e for e in edges if e not in edges_here]
        aliases_here = {a.alias: a for a in have.aliases} if have else {}
        moved = [a for a in m.aliases if aliases_here.get(a.alias) != a]
        last = max(m.last_version, have.last_version) if have else m.last_version
        unplaced = tuple(v for v in new if v.version not in placed)
        if before_write is not None and unplaced:  # (rare: changed here since the first look)
            before_write(unplaced)

        changed = bool(new or moved)
        if row is None:
            model_id = s.insert(
                q.import_model_row,
                {
                    "name": m.name,
                    "description": m.description,
                    "created_at": _stamp(m.created_at),
                    "updated_at": _stamp(m.updated_at),
                    "last_version": last,
                },
            )
            changed = True
        else:
            model_id = int(row[0])
            assert have is not None
            if (have.description, have.updated_at, have.last_version) != (
                m.description,
                m.updated_at,
                last,
            ):
                s.rowcount(
                    Queries.UPDATE_IMPORTED_MODEL,
                    {
                        "model_id": model_id,
                        "description": m.description,
                        "updated_at": _stamp(m.updated_at),
                        "last_version": last,
                    },
                )
                changed = True
        if (have is None and m.tags) or (have is not None and have.tags != m.tags):
            if have is not None and have.tags:
                s.rowcount(Queries.DELETE_MODEL_TAGS, {"model_id": model_id})
            _insert_tuples(
                s,
                "mr_registered_model_tags",
                ("model_id", "tag_key", "tag_value"),
                [(model_id, k, v) for k, v in m.tags.items()],
            )
            changed = True
        for start in range(0, len(new), IMPORT_VERSION_ROWS):
            chunk = new[start : start + IMPORT_VERSION_ROWS]
            params: dict[str, Any] = {"model_id": model_id}
            for i, v in enumerate(chunk):
                params.update(
                    {
                        f"v{i}": v.version,
                        f"d{i}": v.description,
                        f"p{i}": v.storage_path,
                        f"s{i}": v.file_size_bytes,
                        f"c{i}": v.checksum,
                        f"t{i}": _stamp(v.created_at),
                    }
                )
            s.rowcount(Queries.import_versions(len(chunk)), params)
        ids: dict[str, int] = {}
        if new or edges or moved:
            ids = {str(n): int(i) for i, n in s.all(Queries.VERSION_IDS, {"model_id": model_id})}
        _insert_tuples(
            s,
            "mr_model_tags",
            ("model_version_id", "tag_key", "tag_value"),
            [(ids[v.version], k, value) for v in new for k, value in v.tags.items()],
        )
        _insert_tuples(
            s,
            "mr_model_metrics",
            ("model_version_id", "metric_name", "metric_value"),
            [(ids[v.version], k, value) for v in new for k, value in v.metrics.items()],
        )
        written, missing = self._import_edges(s, m.name, ids, edges)
        if moved:
            known = [a.alias for a in moved if a.alias in aliases_here]
            for start in range(0, len(known), IMPORT_ROWS):
                chunk_names = known[start : start + IMPORT_ROWS]
                params = {"model_id": model_id}
                params.update({f"n{i}": a for i, a in enumerate(chunk_names)})
                s.rowcount(Queries.delete_aliases(len(chunk_names)), params)
            _insert_tuples(
                s,
                "mr_model_aliases",
                ("model_id", "alias", "model_version_id", "updated_at"),
                [(model_id, a.alias, ids[a.version], _stamp(a.updated_at)) for a in moved],
            )
        return ImportResult(
            m.name,
            row is None,
            tuple(v.version for v in new),
            len(m.versions) - len(new),
            written,
            tuple(missing),
            changed or written > 0,
        )

    def _import_edges(
        self,
        s: Session,
        name: str,
        ids: Mapping[str, int],
        edges: Sequence[tuple[str, tuple[str, str]]],
    ) -> tuple[int, list[tuple[str, str, str]]]:
        """Writes lineage edges (child version of model `name`, (parent model, version))
        whose parent is in this database; returns how many, and the others."""
        if not edges:
            return 0, []
        found: dict[tuple[str, str], int] = {(name, v): i for v, i in ids.items()}
        others = sorted({p for _, p in edges if p[0] != name})
        for start in range(0, len(others), IMPORT_ROWS):
            chunk = others[start : start + IMPORT_ROWS]
            params: dict[str, Any] = {}
            for i, (pname, pversion) in enumerate(chunk):
                params[f"pn{i}"], params[f"pv{i}"] = pname, pversion
            for pname, pversion, pid in s.all(Queries.version_ids_of(len(chunk)), params):
                found[(pname, str(pversion))] = int(pid)
        rows: list[tuple[Any, ...]] = []
        missing: list[tuple[str, str, str]] = []
        for child, parent in edges:
            pid = found.get(parent)
            if pid is None:
                missing.append((child, parent[0], parent[1]))
            else:
                rows.append((ids[child], pid))
        _insert_tuples(s, "mr_model_lineage", ("child_version_id", "parent_version_id"), rows)
        return len(rows), missing

    # -- statistics ---------------------------------------------------------------------------
    def stats(self) -> RegistryStats:
        def work(s: Session) -> RegistryStats:
            models, versions, total, avg = s.one(self.queries.stats) or (0, 0, None, None)
            return RegistryStats(int(models), int(versions), int(total or 0), float(avg or 0))

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
            return DatabaseStats(
                self.name,
                self.server,
                None if schema is None else str(schema),
                size,
                counts,
                self.url.masked(),
                self.driver,
            )

        return self._run(work, write=False)


def _plain(value: Any) -> Any:
    """A sort key as JSON takes it (Decimal and the like as float or int)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    number = float(value)
    return int(number) if number.is_integer() and not isinstance(value, float) else number


def _uses(node: filters.Node | None, field: str) -> bool:
    """Whether the filter has a comparison on `field` ("tags", "metrics", "alias")."""
    if node is None:
        return False
    if isinstance(node, filters.Comparison):
        return node.field.name == field
    if isinstance(node, filters.Not):
        return _uses(node.operand, field)
    return any(_uses(n, field) for n in node.operands)


def _items(order_by: str | Sequence[str] | None) -> list[Any]:
    return [order_by] if isinstance(order_by, str) else list(order_by or [])


def _all(sql: str, params: Mapping[str, Any], s: Session) -> list[tuple[Any, ...]]:
    return s.all(sql, params)


def _pairs(a: str, b: str, items: Mapping[str, Any]) -> dict[str, Any]:
    """{a0: key0, b0: value0, a1: ...}: the parameters of a multi-row VALUES list."""
    out: dict[str, Any] = {}
    for i, (k, v) in enumerate(items.items()):
        out[f"{a}{i}"], out[f"{b}{i}"] = k, v
    return out


def _insert_tuples(
    s: Session,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    per: int = IMPORT_ROWS,
) -> None:
    """Multi-row INSERTs of `rows` into `columns` of `table`, `per` rows a statement."""
    letters = "abcdefgh"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        params = {
            f"{letters[c]}{i}": value for i, r in enumerate(chunk) for c, value in enumerate(r)
        }
        s.rowcount(Queries.insert_tuples(table, columns, len(chunk)), params)


def _stamp(t: datetime) -> str:
    """A datetime as stored: fixed-width ISO-8601 UTC text with microseconds and "Z"."""
    if t.tzinfo is None:
        raise InvalidInputError(f"timestamp {t.isoformat()} has no time zone")
    plain = t.astimezone(timezone.utc).replace(tzinfo=None)
    return plain.isoformat(timespec="microseconds") + "Z"


def _differences(here: ExportedVersion, copy: ExportedVersion) -> list[str]:
    """The fields in which two records of one version differ (lineage aside: missing edges
    are added, and an edge whose parent was deleted in the source stays here)."""
    fields = ("description", "storage_path", "file_size_bytes", "checksum", "created_at")
    out = [f for f in fields if getattr(here, f) != getattr(copy, f)]
    if dict(here.tags) != dict(copy.tags):
        out.append("tags")
    if dict(here.metrics) != dict(copy.metrics):
        out.append("metrics")
    return out


def _check_import(m: ExportedModel) -> None:
    """The input checks of an import: names, texts, numbers, times and references."""
    validate.name(m.name)
    validate.description(m.description)
    for key, value in m.tags.items():
        validate.tag_key(key)
        validate.tag_value(value)
    numbers: set[str] = set()
    for v in m.versions:
        number = validate.import_version_number(v.version, m.name)
        if v.version in numbers:
            raise InvalidInputError(f"model {m.name!r}: version {v.version} twice")
        if number > m.last_version:  # the next save would get a number already taken
            raise InvalidInputError(
                f"model {m.name!r}: version {v.version} is above its counter {m.last_version}"
            )
        numbers.add(v.version)
        validate.description(v.description)
        validate.storage_path(v.storage_path)
        for key, value in v.tags.items():
            validate.tag_key(key)
            validate.tag_value(value)
        validate.metrics(v.metrics)
        for pname, _ in v.parents:
            validate.name(pname)
        for t in (v.created_at,):
            _stamp(t)
    for a in m.aliases:
        validate.alias(a.alias)
        if a.version not in numbers:
            raise InvalidInputError(
                f"alias {a.alias!r} of {m.name!r} points to version {a.version}, not in the copy"
            )
        _stamp(a.updated_at)
    _stamp(m.created_at)
    _stamp(m.updated_at)
