"""Which registries keep their files in a store: the MARKER file at the store's root lists
their ids (`database_stats().registry_id`). A registry claims its store when it opens it: the
first one writes the marker, later opens by the same registry only read it, and a store that
names another registry is refused unless sharing is asked for, which adds this registry to the
list. In a store that several registries share, registry-core never deletes a file one of them
does not reference (another may): fsck leaves such files alone and deletes keep their files.
"""

from __future__ import annotations

import errno
import json
import logging
from dataclasses import dataclass
from typing import NoReturn

from registry_core.errors import ArtifactStoreError, InvalidInputError
from registry_core.stores.base import MARKER, ArtifactStore

log = logging.getLogger("registry_core")

#: the marker's format, written into it so that a later release can read older ones
FORMAT = 1


@dataclass(frozen=True)
class Claim:
    """The registries a store keeps files for, after a claim; empty if the store could not
    be marked (read-only)."""

    registries: tuple[str, ...]

    @property
    def shared(self) -> bool:
        return len(self.registries) > 1


def owners(store: ArtifactStore) -> tuple[str, ...]:
    """The ids of the registries the store's marker names (none: no marker yet)."""
    data = store.read_marker()
    if data is None:
        return ()
    try:
        found = json.loads(data.decode("utf-8"))
        registries = found["registries"]
        if not isinstance(registries, list) or not all(isinstance(r, str) for r in registries):
            raise ValueError(registries)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ArtifactStoreError(
            f"{store.location}/{MARKER} is not a registry-core marker (it names the registries "
            "whose files the store keeps); remove it only if no registry uses this store"
        ) from None
    return tuple(registries)


def refuse(store: ArtifactStore, found: tuple[str, ...]) -> NoReturn:
    """InvalidInputError: `store` keeps the files of the registries `found`, not ours."""
    raise InvalidInputError(
        f"the artifact store {store.location} keeps the files of another registry "
        f"({', '.join(found)}): two registries in one store delete each other's files. Give "
        "this registry a store of its own (artifacts=..., --artifacts), or share it knowingly "
        "(shared_artifacts=True, --shared-artifacts): then registry-core never deletes a file "
        "there that this registry does not reference"
    )


def _marker(registries: list[str]) -> bytes:
    return json.dumps({"format": FORMAT, "registries": registries}, indent=1).encode("utf-8")


def claim(store: ArtifactStore, registry_id: str, *, share: bool = False) -> Claim:
    """Marks `store` as keeping the files of registry `registry_id`; InvalidInputError if it
    keeps another registry's files and `share` is False. A store that cannot be written
    (read-only credentials) is used unmarked: nothing is refused, nothing claimed."""
    for _ in range(3):  # a claim lost to another registry's at the same moment: read again
        found = owners(store)
        if registry_id in found:
            return Claim(found)
        if found and not share:
            refuse(store, found)
        try:
            if not found:
                if store.create_marker(_marker([registry_id])):
                    return Claim((registry_id,))
                continue
            store.replace_marker(_marker([*found, registry_id]))
            log.warning(
                "artifact store %s is now shared by %d registries", store.location, len(found) + 1
            )
            return Claim((*found, registry_id))
        except OSError as exc:
            if not isinstance(exc, PermissionError) and exc.errno != errno.EROFS:
                raise
            log.info("artifact store %s is read-only here: not marked (%s)", store.location, exc)
            return Claim(found)
    return Claim(owners(store))
