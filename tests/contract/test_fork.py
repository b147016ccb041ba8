"""A registry opened before a fork (gunicorn --preload, multiprocessing with the fork start
method, DataLoader workers) keeps working in the parent and in every child: a child never uses a
connection its parent opened, it opens its own on first use.

Children share the parent's sockets (and SQLite's file handles) after a fork: two processes
writing requests on one socket read each other's answers, which returned another model's object
and hung children before connections were made per process.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

import pytest

import dbsources
from registry_core import ModelRegistry

CHILDREN = 4
MODELS_PER_CHILD = 20
#: seconds the whole fork test may take before it counts as hung (it takes about one)
HANG_LIMIT = 60

#: the registry the forked children inherit (set in the parent before the fork)
_INHERITED: list[ModelRegistry] = []


def _model(child: int, i: int) -> dict[str, Any]:
    return {"child": child, "i": i, "payload": list(range(child * 100 + i))}


def _load_in_child(child: int) -> list[tuple[str, bool, int]]:
    """Runs in a forked child: loads its own 20 models through the inherited registry."""
    (reg,) = _INHERITED
    out = []
    for i in range(MODELS_PER_CHILD):
        name = f"m-{child}-{i}"
        out.append((name, reg.load_model(name) == _model(child, i), os.getpid()))
    # and a write from the child, through its own connection
    out.append((f"child-{child}", reg.save_model(child, f"child-{child}").version == "1", 0))
    return out


def _parent_connections(reg: ModelRegistry) -> set[int]:
    """The ids of the connections the backend holds (its pool's, or SQLite's one)."""
    backend: Any = reg.backend
    pool = getattr(backend, "_pool", None)
    return set(pool._open) if pool is not None else {id(backend._conn)}


@pytest.mark.parametrize("engine", dbsources.WITH_POOLER)  # also through PgBouncer
def test_forked_children_open_their_own_connections(registry: ModelRegistry) -> None:
    for child in range(CHILDREN):
        for i in range(MODELS_PER_CHILD):
            registry.save_model(_model(child, i), f"m-{child}-{i}")
    before = registry.get_version("m-0-0")  # the parent's pool holds a connection now
    held = _parent_connections(registry)
    _INHERITED[:] = [registry]
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(CHILDREN) as pool:
            results = pool.map_async(_load_in_child, range(CHILDREN)).get(timeout=HANG_LIMIT)
    finally:
        _INHERITED.clear()
    wrong = [name for rows in results for name, ok, _ in rows if not ok]
    assert wrong == [], f"{len(wrong)} loads returned another object: {wrong[:5]}"
    assert {pid for rows in results for _, _, pid in rows[:-1]} - {os.getpid()}
    # the parent's connections were not touched by the children: it carries on with them
    assert registry.get_version("m-0-0") == before
    assert _parent_connections(registry) == held  # none was ended and replaced
    assert registry.load_model("m-3-19") == _model(3, 19)
    assert registry.save_model("after", "parent").version == "1"
    assert sorted(m.name for m in registry.list_models() if not m.name.startswith("m-")) == [
        *(f"child-{c}" for c in range(CHILDREN)),
        "parent",
    ]


def _save_and_fork_again(child: int, results: Any) -> None:
    """A second generation: the child saves, forks a grandchild that loads, and loads."""
    (reg,) = _INHERITED
    reg.save_model(child, f"gen1-{child}")
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        ok = pool.apply_async(_load_grandchild, (child,)).get(timeout=HANG_LIMIT)
    results.put((child, bool(ok and reg.load_model(f"gen1-{child}") == child)))


def _load_grandchild(child: int) -> bool:
    (reg,) = _INHERITED
    return bool(reg.load_model(f"gen1-{child}") == child)


def test_a_forked_child_can_fork_again(registry: ModelRegistry) -> None:
    registry.save_model(0, "seed")
    _INHERITED[:] = [registry]
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    try:
        children = [ctx.Process(target=_save_and_fork_again, args=(c, results)) for c in (1, 2)]
        for p in children:
            p.start()
        got = sorted(results.get(timeout=HANG_LIMIT) for _ in children)
        for p in children:
            p.join(timeout=HANG_LIMIT)
    finally:
        _INHERITED.clear()
    assert got == [(1, True), (2, True)]
    assert registry.load_model("seed") == 0
    assert registry.load_model("gen1-2") == 2
