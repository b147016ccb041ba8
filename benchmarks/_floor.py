"""The hand-written floor the benchmarks compare registry-core with: the least a program must do
on the same driver to return the same data. One kept autocommit connection; one statement per
read, the tags, metrics and aliases of each version aggregated as JSON in that statement; the
rows built into the same `ModelVersion` records; for a save, the fewest round trips the engine
allows while numbering stays race-free. Written per engine, by hand, as a user would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from registry_core.records import ModelVersion

UTC = timezone.utc

# JSON aggregation functions by engine: (object of key -> value, array of values)
_AGG = {
    "sqlite": ("json_group_object", "json_group_array"),
    "postgresql": ("json_object_agg", "json_agg"),
    "mysql": ("JSON_OBJECTAGG", "JSON_ARRAYAGG"),
}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


class Floor:
    """Minimal reads and a minimal save on one engine's driver."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.replace("mariadb", "mysql").replace("postgres", "postgresql")
        self.engine = "postgresql" if scheme.startswith("postgresql") else scheme
        if self.engine == "sqlite":
            path = url.split("://", 1)[1][1:]
            self.conn: Any = sqlite3.connect(path, isolation_level=None)
            self.ph, self.cast = "?", "INTEGER"
        elif self.engine == "postgresql":
            import psycopg

            self.conn = psycopg.connect(
                url.split("?")[0].replace("postgresql://", "postgresql://", 1), autocommit=True
            )
            self.ph, self.cast = "%s", "INTEGER"
        else:
            import mysql.connector

            self.conn = mysql.connector.connect(
                host=parts.hostname,
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                database=parts.path.lstrip("/"),
                charset="utf8mb4",
                collation="utf8mb4_bin",
                autocommit=True,
            )
            self.ph, self.cast = "%s", "SIGNED"
        obj, arr = _AGG[self.engine]
        self.cur = self.conn.cursor()
        # SQLite's JSON writes doubles with 15 significant digits: its metrics come exactly,
        # as REAL columns, from a second statement (in-process, no round trip)
        metrics = (
            "NULL"
            if self.engine == "sqlite"
            else f"(SELECT {obj}(x.metric_name, x.metric_value) FROM mr_model_metrics x "
            "WHERE x.model_version_id = mv.id)"
        )
        # every ModelVersion field, and the attributes as JSON aggregates
        self.columns = (
            "m.name, mv.version, mv.description, mv.storage_path, mv.file_size_bytes, "
            "mv.created_at, mv.checksum, "
            f"(SELECT {obj}(t.tag_key, t.tag_value) FROM mr_model_tags t "
            "WHERE t.model_version_id = mv.id), "
            f"{metrics}, "
            f"(SELECT {arr}(a.alias) FROM mr_model_aliases a WHERE a.model_version_id = mv.id), "
            "mv.id"
        )
        self.base = (
            f"SELECT {self.columns} FROM mr_models m JOIN mr_model_versions mv "
            "ON mv.model_id = m.id"
        )

    def close(self) -> None:
        self.conn.close()

    def _q(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        self.cur.execute(sql.replace("?", self.ph), params)
        return list(self.cur.fetchall())

    def _versions(self, rows: list[Any]) -> list[ModelVersion]:
        exact: dict[int, dict[str, float]] = {}
        if self.engine == "sqlite" and rows:
            ids = [r[10] for r in rows]
            marks = ", ".join("?" for _ in ids)
            for vid, k, v in self._q(
                "SELECT model_version_id, metric_name, metric_value FROM mr_model_metrics "
                f"WHERE model_version_id IN ({marks})",
                tuple(ids),
            ):
                exact.setdefault(vid, {})[k] = v
        out = []
        for r in rows:
            tags, metrics, aliases = (
                (json.loads(x) if isinstance(x, str) else x) if x is not None else None
                for x in r[7:10]
            )
            if self.engine == "sqlite":
                metrics = exact.get(r[10])
            out.append(
                ModelVersion(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    _ts(r[5]),
                    dict(sorted(tags.items())) if tags else {},
                    r[6],
                    dict(sorted((k, float(v)) for k, v in metrics.items())) if metrics else {},
                    tuple(sorted(aliases)) if aliases else (),
                )
            )
        return out

    # -- reads ------------------------------------------------------------------------------
    def get_version(self, name: str, version: str) -> ModelVersion:
        return self._versions(
            self._q(f"{self.base} WHERE m.name = ? AND mv.version = ?", (name, version))
        )[0]

    def latest_of(self, name: str) -> ModelVersion:
        return self._versions(
            self._q(
                f"{self.base} WHERE mv.id = (SELECT MAX(l.id) FROM mr_model_versions l "
                "JOIN mr_models lm ON lm.id = l.model_id WHERE lm.name = ?)",
                (name,),
            )
        )[0]

    def latest_versions(self) -> list[ModelVersion]:
        return self._versions(
            self._q(
                f"{self.base} JOIN (SELECT model_id, MAX(id) AS id FROM mr_model_versions "
                "GROUP BY model_id) l ON l.id = mv.id ORDER BY m.name"
            )
        )

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self._versions(
            self._q(
                f"{self.base} WHERE m.name = ? ORDER BY CAST(mv.version AS {self.cast})", (name,)
            )
        )

    def find_by_tag(self, key: str, value: str) -> list[ModelVersion]:
        return self._versions(
            self._q(
                f"{self.base} WHERE mv.id IN (SELECT model_version_id FROM mr_model_tags "
                "WHERE tag_key = ? AND tag_value = ?) "
                f"ORDER BY m.name, CAST(mv.version AS {self.cast})",
                (key, value),
            )
        )

    def best_version(self, name: str, metric: str) -> ModelVersion:
        return self._versions(
            self._q(
                f"SELECT {self.columns} FROM mr_models m CROSS JOIN mr_model_versions mv "
                "CROSS JOIN mr_model_metrics b WHERE mv.model_id = m.id "
                "AND b.model_version_id = mv.id AND m.name = ? AND b.metric_name = ? "
                "ORDER BY b.metric_value DESC, mv.id DESC LIMIT 1",
                (name, metric),
            )
        )[0]

    # -- search pages (100 rows), as a user would write them by hand: the page's ids in
    # order first, then the records of those rows alone (a deferred join) ------------------
    def _page(self, join: str, where: str, keys: str, order: str, params: tuple[Any, ...]) -> Any:
        """`keys`: the sort columns as k0, k1; `order`: ORDER BY over k0, k1 and id."""
        inner_order = order.replace("p.", "")
        return self._versions(
            self._q(
                f"{self.base} JOIN (SELECT mv.id AS id, {keys} FROM mr_models m "
                f"JOIN mr_model_versions mv ON mv.model_id = m.id {join} WHERE {where} "
                f"ORDER BY {inner_order} LIMIT 100) p ON p.id = mv.id ORDER BY {order}",
                params,
            )
        )

    def search_tag(self, key: str, value: str, size: int) -> list[ModelVersion]:
        assert size == 100
        return self._page(
            "",
            "EXISTS (SELECT 1 FROM mr_model_tags t WHERE t.model_version_id = mv.id "
            "AND t.tag_key = ? AND t.tag_value = ?)",
            f"m.name AS k0, CAST(mv.version AS {self.cast}) AS k1",
            "p.k0, p.k1, p.id",
            (key, value),
        )

    def search_metric(self, metric: str, above: float, size: int) -> list[ModelVersion]:
        assert size == 100
        return self._page(
            "JOIN mr_model_metrics o ON o.model_version_id = mv.id AND o.metric_name = ?",
            "o.metric_value > ?",
            "o.metric_value AS k0",
            "p.k0 DESC, p.id",
            (metric, above),
        )

    def search_created(self, since: str, size: int) -> list[ModelVersion]:
        assert size == 100
        return self._page(
            "",
            "mv.created_at >= ?",
            f"m.name AS k0, CAST(mv.version AS {self.cast}) AS k1",
            "p.k0, p.k1, p.id",
            (since,),
        )

    def stats(self) -> tuple[int, int, int, float]:
        (row,) = self._q(
            "SELECT COUNT(DISTINCT m.id), COUNT(mv.id), SUM(mv.file_size_bytes), "
            "AVG(mv.file_size_bytes) FROM mr_models m LEFT JOIN mr_model_versions mv "
            "ON m.id = mv.model_id"
        )
        return int(row[0]), int(row[1]), int(row[2] or 0), float(row[3] or 0)

    # -- a save: the counter bumped under the row lock, the row, its tags ---------------------
    def save(self, name: str, tags: Mapping[str, str], path: str, now: str) -> str:
        if self.engine == "postgresql":
            # one round trip: one statement, atomic in autocommit
            keys, values = list(tags), list(tags.values())
            self.cur.execute(
                "WITH m AS (INSERT INTO mr_models (name, created_at, updated_at, last_version) "
                "VALUES (%s, %s, %s, 1) ON CONFLICT (name) DO UPDATE SET "
                "last_version = mr_models.last_version + 1, updated_at = excluded.updated_at "
                "RETURNING id, last_version), "
                "v AS (INSERT INTO mr_model_versions (model_id, version, storage_path, "
                "file_size_bytes, checksum, created_at) SELECT id, last_version::text, %s, 1, "
                "'sha256:00', %s FROM m RETURNING id, version), "
                "t AS (INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) "
                "SELECT v.id, k, tv FROM v, unnest(%s::text[], %s::text[]) AS x(k, tv)) "
                "SELECT version FROM v",
                (name, now, now, path, now, keys, values),
            )
            return str(self.cur.fetchone()[0])
        if self.engine == "sqlite":
            c = self.cur
            c.execute("BEGIN IMMEDIATE")
            c.execute(
                "INSERT INTO mr_models (name, created_at, updated_at, last_version) "
                "VALUES (?, ?, ?, 1) ON CONFLICT (name) DO UPDATE SET "
                "last_version = last_version + 1, updated_at = excluded.updated_at "
                "RETURNING id, last_version",
                (name, now, now),
            )
            model_id, number = c.fetchone()
            c.execute(
                "INSERT INTO mr_model_versions (model_id, version, storage_path, "
                "file_size_bytes, checksum, created_at) VALUES (?, ?, ?, 1, 'sha256:00', ?)",
                (model_id, str(number), path, now),
            )
            vid = c.lastrowid
            rows = ", ".join("(?, ?, ?)" for _ in tags)
            c.execute(
                f"INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) VALUES {rows}",
                [x for k, v in tags.items() for x in (vid, k, v)],
            )
            c.execute("COMMIT")
            return str(number)
        # MySQL/MariaDB: LAST_INSERT_ID(expr) hands the counter back in the OK packet
        c = self.cur
        c.execute("START TRANSACTION")
        c.execute(
            "INSERT INTO mr_models (name, created_at, updated_at, last_version) "
            "VALUES (%s, %s, %s, 1) ON DUPLICATE KEY UPDATE "
            "last_version = LAST_INSERT_ID(last_version + 1), updated_at = %s",
            (name, now, now, now),
        )
        number = 1 if c.rowcount == 1 else c.lastrowid  # 1: inserted; 2: updated
        c.execute(
            "INSERT INTO mr_model_versions (model_id, version, storage_path, file_size_bytes, "
            "checksum, created_at) SELECT id, %s, %s, 1, 'sha256:00', %s FROM mr_models "
            "WHERE name = %s",
            (str(number), path, now, name),
        )
        vid = c.lastrowid
        rows = ", ".join("(%s, %s, %s)" for _ in tags)
        c.execute(
            f"INSERT INTO mr_model_tags (model_version_id, tag_key, tag_value) VALUES {rows}",
            [x for k, v in tags.items() for x in (vid, k, v)],
        )
        self.conn.commit()
        return str(number)
