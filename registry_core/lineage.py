"""lineage() through any number of generations: one recursive query follows parents (or
children) up to LINEAGE_MAX_DEPTH generations, the most every database's recursion allows
without settings (MySQL stops at 1,000 iterations); where its deepest rows reach that depth,
the walk goes on from them, one query per LINEAGE_MAX_DEPTH generations (and per CHUNK
versions of a wide front)."""

from __future__ import annotations

from typing import Any

from registry_core.rows import ID
from registry_core.session import Session
from registry_core.sql import CHUNK, LINEAGE_MAX_DEPTH, Queries

Row = tuple[Any, ...]


def deeper(s: Session, queries: Queries, rows: list[Row], direction: str) -> list[Row]:
    """`rows` of a lineage query (depth last) with the generations beyond LINEAGE_MAX_DEPTH
    added, each version once at its least depth; in the query's order (depth, name, number)."""
    front = [r for r in rows if int(r[-1]) == LINEAGE_MAX_DEPTH]
    if not front:
        return rows  # the usual case: the one query saw everything
    best: dict[int, Row] = {int(r[ID]): r for r in rows}
    offset = 0
    while front:
        offset += LINEAGE_MAX_DEPTH
        reached: list[Row] = []
        for i in range(0, len(front), CHUNK):
            chunk = front[i : i + CHUNK]
            sql = queries.lineage_from(direction, len(chunk))
            reached += s.all(sql, {f"i{j}": r[ID] for j, r in enumerate(chunk)})
        front = []
        for r in reached:
            row = (*r[:-1], int(r[-1]) + offset)
            known = best.get(int(r[ID]))
            if known is None or row[-1] < int(known[-1]):
                best[int(r[ID])] = row
            if int(r[-1]) == LINEAGE_MAX_DEPTH:
                front.append(row)
    return sorted(best.values(), key=lambda r: (int(r[-1]), r[0], int(r[1])))
