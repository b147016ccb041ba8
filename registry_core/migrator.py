"""The migration runner: which migrations exist, which are applied, and applying them.

Migrations are `NNN_name.sql` (up) and `NNN_name.down.sql` (down) files in the package
`registry_core.migrations`, shared by every backend and expanded by its Dialect. Each applied
migration is a row of `schema_migrations(version, applied_at, name, checksum, dirty)`.

Applying one migration is: insert its row with dirty=1, run its statements, set dirty=0, commit.
On SQLite and PostgreSQL that is one transaction, so a failure leaves nothing behind. MySQL
commits each DDL statement implicitly (https://dev.mysql.com/doc/refman/8.4/en/implicit-commit.html),
so a failure there leaves the row with dirty=1: further migrations and `connect()` refuse to run
until an operator has fixed the schema and called `repair` (the row records whether applying
or reverting failed: dirty=1 or 2).

The caller (a backend) holds the migration lock while `Migrator` works and supplies sessions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from registry_core.dialect import Dialect, split_statements
from registry_core.errors import MigrationError
from registry_core.session import Session, utc_now

log = logging.getLogger("registry_core")

MIGRATIONS_PACKAGE = "registry_core.migrations"
_FILE = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")
_CREATED_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([a-z0-9_]+)", re.IGNORECASE)

SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version {{version}} PRIMARY KEY,
    applied_at {{timestamp}} NOT NULL,
    name {{text}},
    checksum {{checksum}},
    dirty INTEGER NOT NULL DEFAULT 0
){{table_options}}
"""
#: columns registry-core adds to the seed document's schema_migrations(version, applied_at)
_HISTORY_COLUMNS = {
    "name": "{{text}}",
    "checksum": "{{checksum}}",
    "dirty": "INTEGER NOT NULL DEFAULT 0",
}
_SELECT_APPLIED = (
    "SELECT version, applied_at, name, checksum, dirty FROM schema_migrations ORDER BY version"
)
#: values of schema_migrations.dirty: clean, failed while applying, failed while reverting
CLEAN, DIRTY_UP, DIRTY_DOWN = 0, 1, 2
_INSERT_DIRTY = (
    "INSERT INTO schema_migrations (version, applied_at, name, checksum, dirty) "
    "VALUES (:version, :applied_at, :name, :checksum, 1)"
)
_MARK_CLEAN = (
    "UPDATE schema_migrations SET dirty = 0, applied_at = :applied_at WHERE version = :version"
)
_DIRTY_OF = (  # no row: not applied; 0: applied; 1/2: dirty (failed applying/reverting)
    "SELECT dirty FROM schema_migrations WHERE version = :version "
    "AND (name IS NOT NULL OR checksum IS NOT NULL)"
)
_DELETE_FOREIGN = (
    "DELETE FROM schema_migrations WHERE version = :version AND name IS NULL AND checksum IS NULL"
)
_MARK_DIRTY_DOWN = "UPDATE schema_migrations SET dirty = 2 WHERE version = :version"
_DELETE_ROW = "DELETE FROM schema_migrations WHERE version = :version"


@dataclass(frozen=True)
class Migration:
    """One migration file pair as shipped."""

    version: str
    name: str
    up: str
    down: str | None
    adopt: str | None = None  # brings a hand-made equivalent schema to this migration's

    @property
    def checksum(self) -> str:
        """sha256 of the up file as shipped (before dialect expansion)."""
        return "sha256:" + hashlib.sha256(self.up.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


@dataclass(frozen=True)
class AppliedMigration:
    """One row of schema_migrations."""

    version: str
    applied_at: str
    name: str | None
    checksum: str | None
    dirty: bool
    #: for a dirty row: "up" (failed while applying) or "down" (failed while reverting)
    direction: str | None = None


@dataclass(frozen=True)
class MigrationStatus:
    """What is applied, what is pending, and what blocks migrating (read by
    `MetadataBackend.migration_status()`, printed by `registry-core status`): `applied` and
    `pending` migrations in order, the `dirty` one (a migration that failed part-way, with
    its direction), `changed` (applied files edited since), `unknown` (applied migrations
    this version does not ship), and whether registry-core can finish the dirty one itself
    (`resumable`)."""

    applied: list[AppliedMigration]
    pending: list[Migration]
    dirty: AppliedMigration | None = None
    changed: list[str] = field(default_factory=list)  # applied, but the file differs now
    unknown: list[str] = field(default_factory=list)  # applied, but not shipped (newer db)
    #: the dirty migration's remaining steps can be finished by registry-core itself (each
    #: step is one it can tell done: CREATE/DROP TABLE, CREATE INDEX, ADD COLUMN)
    resumable: bool = False

    @property
    def current(self) -> str | None:
        """The highest applied version, or None on an empty database."""
        return self.applied[-1].version if self.applied else None

    @property
    def level(self) -> int:
        """How many migrations, from 001 on and without a gap, are applied and clean: the
        schema the library may use (a dirty or missing one stops the count)."""
        level = 0
        for a in self.applied:
            if a.dirty or a.version != f"{level + 1:03d}":
                break
            level += 1
        return level

    @property
    def up_to_date(self) -> bool:
        """True when nothing is pending and no migration is dirty (`registry-core status`
        exits 0)."""
        return not self.pending and self.dirty is None


def load_migrations(folder: Path | None = None) -> list[Migration]:
    """The shipped migrations (or those in `folder`) in version order."""
    root: Any = resources.files(MIGRATIONS_PACKAGE) if folder is None else folder
    files = {p.name: p for p in root.iterdir()}
    found: dict[str, Migration] = {}
    for fname in sorted(files):
        m = _FILE.match(fname)
        if not m:
            continue
        version = m.group("version")
        if version in found:
            raise MigrationError(f"two migrations are numbered {version}")
        stem = fname[: -len(".sql")]
        extra = {
            kind: files[f"{stem}.{kind}.sql"].read_text("utf-8")
            for kind in ("down", "adopt")
            if f"{stem}.{kind}.sql" in files
        }
        found[version] = Migration(
            version,
            m.group("name"),
            files[fname].read_text("utf-8"),
            extra.get("down"),
            extra.get("adopt"),
        )
    return [found[v] for v in sorted(found)]


class Migrator:
    """Applies and reverts migrations through sessions a backend opens.

    `transaction()` must return a context manager yielding a Session in a write transaction
    that commits on success and rolls back on error (SQLite: BEGIN IMMEDIATE).
    """

    def __init__(
        self,
        dialect: Dialect,
        transaction: Callable[[], AbstractContextManager[Session]],
        migrations: list[Migration] | None = None,
    ) -> None:
        self.dialect = dialect
        self._transaction = transaction
        self.migrations = load_migrations() if migrations is None else migrations

    # -- reading -------------------------------------------------------------------
    def ensure_table(self) -> None:
        """Creates schema_migrations if missing, and adds our columns to the seed document's
        two-column version of it (idempotent)."""
        with self._transaction() as s:
            if s.one(self.dialect.table_exists_sql, {"name": "schema_migrations"}) is None:
                s.rowcount(self.dialect.expand(SCHEMA_MIGRATIONS_DDL))
            missing = [c for c in _HISTORY_COLUMNS if c not in s.columns("schema_migrations")]
            for column in missing:
                ddl = (
                    f"ALTER TABLE schema_migrations ADD COLUMN {column} {_HISTORY_COLUMNS[column]}"
                )
                s.rowcount(self.dialect.expand(ddl))

    def status(self) -> MigrationStatus:
        """Reads schema_migrations and compares it with the files; writes nothing."""
        with self._transaction() as s:
            if (
                s.one(self.dialect.table_exists_sql, {"name": "schema_migrations"}) is None
                or "checksum" not in s.columns("schema_migrations")  # the seed's own table
            ):
                return MigrationStatus(applied=[], pending=list(self.migrations))
            return self._status(s)

    def _status(self, s: Session) -> MigrationStatus:
        # Rows without name and checksum were written by other tools (the seed document's
        # own migration example): they count as not applied.
        rows = [r for r in s.all(_SELECT_APPLIED) if r[2] is not None or r[3] is not None]
        applied = [
            AppliedMigration(
                str(v),
                str(at),
                name,
                checksum,
                bool(dirty),
                {DIRTY_UP: "up", DIRTY_DOWN: "down"}.get(int(dirty)),
            )
            for v, at, name, checksum, dirty in rows
        ]
        by_version = {m.version: m for m in self.migrations}
        done = {a.version for a in applied}
        changed = [
            by_version[a.version].label
            for a in applied
            if a.version in by_version
            and a.checksum is not None
            and a.checksum != by_version[a.version].checksum
        ]
        unknown = [a.version for a in applied if a.version not in by_version]
        dirty = next((a for a in applied if a.dirty), None)
        pending = [m for m in self.migrations if m.version not in done]
        resumable = False
        if dirty is not None and dirty.version in by_version and dirty.version not in changed:
            m = by_version[dirty.version]
            script = m.down if dirty.direction == "down" else m.up
            resumable = script is not None and all(
                _step(stmt) is not None for stmt in split_statements(self.dialect.expand(script))
            )
        return MigrationStatus(applied, pending, dirty, changed, unknown, resumable)

    @staticmethod
    def check_runnable(status: MigrationStatus, direction: str = "up") -> None:
        """MigrationError if a dirty migration or a changed file forbids migrating in
        `direction`. A dirty migration that registry-core can finish in that direction (a
        process killed part-way through it on MySQL) does not."""
        dirty = status.dirty
        if dirty is not None and not (status.resumable and dirty.direction == direction):
            raise MigrationError(
                f"migration {dirty.version} ({dirty.name}) failed part-way while "
                f"{'reverting' if dirty.direction == 'down' else 'applying'} and left "
                "the schema dirty; fix the database by hand, then run "
                "`registry-core repair --applied` or `--not-applied` (docs/schema.md: "
                "'Recovering a failed migration')",
                reason="dirty",
            )
        if status.changed:
            raise MigrationError(
                "applied migration files changed since they were applied: "
                + ", ".join(status.changed)
                + "; restore the shipped files (applied migrations must not be edited)",
                reason="changed",
            )

    # -- writing -------------------------------------------------------------------
    def upgrade(self, target: str | None = None) -> list[str]:
        """Applies pending migrations up to `target` (all if None); returns their versions.
        First finishes a migration that a killed process left half-applied, if it can."""
        target = None if target is None else normalize_target(target)
        self.ensure_table()
        applied_now: list[str] = []
        with self._transaction() as s:
            status = self._status(s)
        self.check_runnable(status)
        if status.dirty is not None:  # resumable: check_runnable let it through
            m = next(m for m in self.migrations if m.version == status.dirty.version)
            if self._apply(m):
                applied_now.append(m.version)
        for m in status.pending:
            if target is not None and m.version > target:
                break
            if self._apply(m):
                applied_now.append(m.version)
        return applied_now

    def _apply(self, m: Migration) -> bool:
        """Applies `m` in one transaction unless another process recorded it meanwhile.

        If the tables `m` creates already exist without `m` being recorded (a schema made by
        hand from the seed document), `m`'s adopt script brings them to `m` instead, keeping
        every row; where the dialect cannot adopt, MigrationError and nothing is changed.
        """
        with self._transaction() as s:
            # Re-read under the lock: another process may have applied it meanwhile
            # (on SQLite the lock is this very transaction).
            dirty = s.scalar(_DIRTY_OF, {"version": m.version})
            if dirty == DIRTY_UP:  # a process died part-way through it: finish it
                log.info("resuming migration %s, left half-applied", m.label)
                self._run_script(s, m, m.up, resume=True)
                s.rowcount(_MARK_CLEAN, {"version": m.version, "applied_at": utc_now()})
                return True
            if dirty is not None:
                return False
            script = m.up
            first_table = _CREATED_TABLE.search(m.up)
            if first_table and s.one(self.dialect.table_exists_sql, {"name": first_table.group(1)}):
                if m.adopt is None or not self.dialect.adopts_seed_schema:
                    raise MigrationError(
                        f"table {first_table.group(1)} of migration {m.label} exists but "
                        "schema_migrations does not record it; adopting a hand-made schema is "
                        "supported on SQLite only, where the seed document's SQL runs as "
                        "written. Move the tables aside or create the database with "
                        "registry-core"
                    )
                script = m.adopt
            s.rowcount(_DELETE_FOREIGN, {"version": m.version})
            s.rowcount(
                _INSERT_DIRTY,
                {
                    "version": m.version,
                    "applied_at": utc_now(),
                    "name": m.name,
                    "checksum": m.checksum,
                },
            )
            self._run_script(s, m, script)
            s.rowcount(_MARK_CLEAN, {"version": m.version, "applied_at": utc_now()})
        return True

    def downgrade(self, target: str) -> list[str]:
        """Reverts applied migrations above `target` ("000": all) newest first; returns them."""
        target = normalize_target(target)
        with self._transaction() as s:
            status = self._status(s)
        self.check_runnable(status, "down")
        if status.unknown:
            raise MigrationError(
                "the database has migrations this version does not ship: "
                + ", ".join(status.unknown)
            )
        reverted: list[str] = []
        for m in self._to_revert(status, target):
            if m.down is None:
                raise MigrationError(f"migration {m.label} has no down migration")
            with self._transaction() as s:
                # Under the lock again: only the newest applied migration may be reverted.
                newest = s.scalar("SELECT MAX(version) FROM schema_migrations")
                if newest != m.version:
                    raise MigrationError(
                        f"another process changed the schema while reverting (newest is now "
                        f"{newest}, expected {m.version}); run status and try again"
                    )
                resume = s.scalar(_DIRTY_OF, {"version": m.version}) == DIRTY_DOWN
                s.rowcount(_MARK_DIRTY_DOWN, {"version": m.version})
                self._run_script(s, m, m.down, resume=resume)
                s.rowcount(_DELETE_ROW, {"version": m.version})
            reverted.append(m.version)
        return reverted

    def _to_revert(self, status: MigrationStatus, target: str) -> list[Migration]:
        by_version = {m.version: m for m in self.migrations}
        return [by_version[a.version] for a in reversed(status.applied) if a.version > target]

    def repair(self, *, applied: bool) -> str | None:
        """Resolves a dirty migration after the operator fixed the schema by hand; returns its
        version (None: nothing was dirty). `applied=True`: the schema now has everything the
        migration makes (record it as applied); False: none of it (forget it, so that
        `migrate` runs it again). Changes no table but schema_migrations."""
        with self._transaction() as s:
            status = self._status(s)
            if status.dirty is None:
                return None
            if applied:
                s.rowcount(_MARK_CLEAN, {"version": status.dirty.version, "applied_at": utc_now()})
            else:
                s.rowcount(_DELETE_ROW, {"version": status.dirty.version})
            return status.dirty.version

    def sql(
        self,
        *,
        target: str | None = None,
        down: bool = False,
        status: MigrationStatus | None = None,
    ) -> Iterator[tuple[str, str]]:
        """(label, statement) pairs as `upgrade`/`downgrade` would run them, for review (dry
        run). With `status`, only what that database would run (pending ones, or applied ones
        above `target` newest first); without, every migration (up) or every down migration
        above `target` (default: all), newest first."""
        target = None if target is None else normalize_target(target)
        if down:
            if status is None:
                status = MigrationStatus(
                    [
                        AppliedMigration(m.version, "", m.name, m.checksum, False)
                        for m in self.migrations
                    ],
                    [],
                )
            chosen = [(m, m.down) for m in self._to_revert(status, target or "000")]
        else:
            todo = self.migrations if status is None else status.pending
            chosen = [(m, m.up) for m in todo if target is None or m.version <= target]
        for m, text in chosen:
            if text is None:
                raise MigrationError(f"migration {m.label} has no down migration")
            for stmt in split_statements(self.dialect.expand(text)):
                yield m.label, stmt

    def _run_script(self, s: Session, m: Migration, text: str, *, resume: bool = False) -> None:
        """Runs a migration's statements; with `resume`, skips those already done (a process
        that died part-way through a migration on MySQL, where each DDL commits)."""
        for i, stmt in enumerate(split_statements(self.dialect.expand(text)), start=1):
            if resume and self._done(s, stmt):
                log.debug("%s statement %d is already done", m.label, i)
                continue
            try:
                s.rowcount(stmt)
            except Exception as exc:
                first_line = stmt.splitlines()[0][:80]
                raise MigrationError(
                    f"migration {m.label} failed at statement {i} ({first_line}...): {exc}"
                ) from exc

    def _done(self, s: Session, stmt: str) -> bool:
        """Whether the effect of one guardable statement (see `_step`) is already there."""
        step = _step(stmt)
        if step is None:
            return False
        kind, name, table = step
        d = self.dialect
        if kind == "create table":
            return s.one(d.table_exists_sql, {"name": name}) is not None
        if kind == "drop table":
            return s.one(d.table_exists_sql, {"name": name}) is None
        if kind == "create index":
            return s.one(d.index_exists_sql, {"name": name}) is not None
        if kind == "drop index":
            return s.one(d.index_exists_sql, {"name": name}) is None
        if kind == "insert if absent":
            return False  # run again: it keeps a row already there
        return name.lower() in s.columns(table)  # add column


_STEPS = (
    ("create table", re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)()", re.I)),
    ("drop table", re.compile(r"DROP TABLE (?:IF EXISTS )?(\w+)()", re.I)),
    ("create index", re.compile(r"CREATE (?:UNIQUE )?INDEX (\w+) ON (\w+)", re.I)),
    ("drop index", re.compile(r"DROP INDEX (\w+)(?: ON (\w+))?()", re.I)),
    ("add column", re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", re.I)),
    (
        "insert if absent",
        re.compile(
            r"INSERT INTO (\w+)()\b.*\b(?:ON CONFLICT \(\w+\) DO NOTHING|ON DUPLICATE KEY UPDATE "
            r"(\w+) = \3)\s*$",
            re.I | re.S,
        ),
    ),
)


def _step(stmt: str) -> tuple[str, str, str] | None:
    """(kind, object name, table) of a statement whose effect can be checked, else None."""
    for kind, pattern in _STEPS:
        found = pattern.match(stmt.strip())
        if found:
            if kind == "add column":  # (table, column) in the statement's order
                return kind, found.group(2), found.group(1)
            return kind, found.group(1), found.group(2) or ""
    return None


def normalize_target(version: str) -> str:
    """A migration version as stored ("2" -> "002"); MigrationError if it is not one."""
    text = str(version).strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise MigrationError(f"a migration version is a number such as 002, not {version!r}")
    return text.zfill(3)
