"""Testing with registry-core (SPEC section 11), installed with the `test` extra.

- `registry_core.testing.plugin`: the pytest plugin (entry point `pytest11`): the fixtures
  `registry`, `registry_url`, `registry_backend` for a test of its own database, and the
  options `--registry-url` / `--registry-engine`; it changes nothing in a run until used.
- `registry_core.contract`: the contract suite every backend passes, run with
  `pytest --pyargs registry_core.contract --registry-url URL`.
- This module (importable without pytest): where each engine's database comes from, for a
  harness of your own.
"""

from registry_core.testing.databases import (
    DEFAULT_IMAGES,
    ENGINES,
    Choice,
    Servers,
    Unavailable,
    choose,
    create_database,
    drop_database,
    start_container,
)

__all__ = [
    "DEFAULT_IMAGES",
    "ENGINES",
    "Choice",
    "Servers",
    "Unavailable",
    "choose",
    "create_database",
    "drop_database",
    "start_container",
]
