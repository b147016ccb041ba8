"""`Store`: a contract test's artifact store, and its files behind the registry's back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry_core import ModelRegistry
from registry_core.stores.local import LocalArtifactStore


def local_files(registry: ModelRegistry) -> LocalArtifactStore:
    """The registry's store, which the test made a local folder (the `store` fixture's
    default), with its paths."""
    assert isinstance(registry.artifacts, LocalArtifactStore), registry.artifacts
    return registry.artifacts


@dataclass
class Store:
    """The test's artifact store: what `connect` gets (`artifacts`, `storage_options`), and
    the raw files behind the registry's back (by path relative to the store's root), the way
    a test tampers with them. The same calls work on every kind of store."""

    kind: str
    artifacts: str
    storage_options: dict[str, Any] | None
    fs: Any
    root: str

    def _key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def read(self, relative: str) -> bytes:
        data: bytes = self.fs.cat_file(self._key(relative))
        return data

    def write(self, relative: str, data: bytes) -> None:
        if self.kind == "local":
            Path(self._key(relative)).parent.mkdir(parents=True, exist_ok=True)
        self.fs.pipe_file(self._key(relative), data)

    def remove(self, relative: str) -> None:
        self.fs.rm_file(self._key(relative))

    def exists(self, relative: str) -> bool:
        return bool(self.fs.isfile(self._key(relative)))

    def files(self) -> set[str]:
        """Every file under models/ and .staging/, relative to the root."""
        found: set[str] = set()
        for top in ("models", ".staging"):
            try:
                listing = self.fs.find(self._key(top))
            except FileNotFoundError:
                continue
            found |= {str(p)[len(self.root) + 1 :] for p in listing}
        return found
