"""Random sequences of saves, tags, aliases and deletions on a real registry, checked after
every step against a plain in-memory model of what SPEC (sections 3 and 4) promises: version
numbers per model count up from 1 and are never given out again after delete_version (but
delete_model forgets the model, so a later save of its name starts again at 1); names, tag keys,
tag values and aliases compare byte-exactly (case and trailing spaces) and sort by code point.

REGISTRY_TEST_STATEFUL_EXAMPLES sets the number of examples (sequences) per engine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from registry_core import InvalidInputError, ModelRegistry, ModelVersion, NotFoundError

#: names that differ only in case or a trailing space; code point order is "A" < "B" < "a" < "a "
#: (a case-insensitive order would put "B" last, a linguistic one "a" before "A")
NAMES = ["a", "A", "a ", "B"]
TAG_KEYS = ["k", "K", "k "]
TAG_VALUES: list[str | None] = ["v", "V", "v ", "", None]
METRIC_NAMES = ["acc", "Acc"]
METRIC_VALUES = [0.0, 0.5, -2.25, 1 / 3, 1e300]
ALIASES = ["champion", "Champion", "champion "]
#: all digits (also beyond ASCII): refused, they would read as version numbers
DIGIT_ALIASES = ["1", "07", "\u0663"]
DESCRIPTIONS: list[str | None] = [None, "", "d", "d "]

names = st.sampled_from(NAMES)
tag_keys = st.sampled_from(TAG_KEYS)
tag_values = st.sampled_from(TAG_VALUES)
#: any number a sequence may reach, as int or str (the API takes both)
numbers = st.integers(1, 14)
any_versions = numbers | numbers.map(str)
#: small picklable objects that compare by value
objects = st.integers(-(2**70), 2**70) | st.tuples(st.integers(0, 9), names)
tag_maps = st.dictionaries(tag_keys, tag_values, max_size=3)
metric_maps = st.dictionaries(st.sampled_from(METRIC_NAMES), st.sampled_from(METRIC_VALUES))

Obj = int | tuple[int, str]
#: what the test compares of a version: name, number, description, tags, metrics, sorted
#: aliases, storage path, checksum
Seen = tuple[
    str, str, str | None, dict[str, str | None], dict[str, float], list[str], str, str | None
]


@dataclass
class VersionState:
    """One saved version as the in-memory model holds it."""

    obj: Obj
    description: str | None
    tags: dict[str, str | None]
    metrics: dict[str, float]
    storage_path: str
    checksum: str | None


@pytest.mark.registry_capabilities("aliases")
@dataclass
class ModelState:
    """One model: the last number given out, its versions and its aliases."""

    last: int = 0
    versions: dict[int, VersionState] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def aliases_of(self, number: int) -> list[str]:
        return sorted(a for a, n in self.aliases.items() if n == number)


def seen(mv: ModelVersion) -> Seen:
    return (
        mv.name,
        mv.version,
        mv.description,
        dict(mv.tags),
        dict(mv.metrics),
        sorted(mv.aliases),
        mv.storage_path,
        mv.checksum,
    )


@pytest.mark.registry_capabilities("aliases", "metrics")
class RegistryMachine(RuleBasedStateMachine):
    """A real ModelRegistry and its in-memory model, which must agree after every step."""

    registry: ClassVar[ModelRegistry]

    def __init__(self) -> None:
        super().__init__()
        for model in self.registry.list_models():  # each example starts from an empty registry
            self.registry.delete_model(model.name)
        self.models: dict[str, ModelState] = {}
        #: what files_load reads after this step: versions just saved, or (after a delete)
        #: every version
        self.saved: list[tuple[str, int]] = []
        self.deleted = False
        self.checks = 0  # find_by_tag_exact's turn

    # -- the model's answers -------------------------------------------------------------
    def expected(self, name: str, number: int) -> Seen:
        m = self.models[name]
        v = m.versions[number]
        return (
            name,
            str(number),
            v.description,
            v.tags,
            v.metrics,
            m.aliases_of(number),
            v.storage_path,
            v.checksum,
        )

    def version_obj(self, name: str, number: int) -> Obj:
        return self.models[name].versions[number].obj

    def version_state(self, name: str, version: int | str) -> VersionState | None:
        m = self.models.get(name)
        return None if m is None else m.versions.get(int(version))

    def check_find_by_tag(self, key: str, value: str | None) -> None:
        """find_by_tag against the model: name order, then numeric version order."""
        want = [
            self.expected(name, number)
            for name, m in sorted(self.models.items())
            for number, v in sorted(m.versions.items())
            if key in v.tags and (value is None or v.tags[key] == value)  # None: any value
        ]
        assert [seen(mv) for mv in self.registry.find_by_tag(key, value)] == want

    # -- choosing targets: mostly ones that exist, so that rules do more than fail --------
    def pick_name(self, data: st.DataObject, *, aliased: bool = False) -> str:
        """Mostly a model with versions (with aliases if `aliased`), else any name."""
        live = [n for n, m in self.models.items() if (m.aliases if aliased else m.versions)]
        return self.pick_from(data, live, NAMES)

    def pick_version(self, data: st.DataObject, name: str) -> int | str:
        """Three times in four a version `name` has (its latest at least one time in four),
        else any number (often one it lacks)."""
        m = self.models.get(name)
        if m is None or not m.versions:
            return data.draw(any_versions, label="version")
        have = st.sampled_from(sorted(m.versions))
        latest = st.just(max(m.versions))
        return data.draw(have | have.map(str) | latest | any_versions, label="version")

    def pick_from(self, data: st.DataObject, present: list[str], pool: list[str]) -> str:
        """Two times in three one of `present` (if any), else any of `pool`."""
        if not present:
            return data.draw(st.sampled_from(pool))
        known = st.sampled_from(sorted(present))
        return data.draw(known | known | st.sampled_from(pool))

    # -- rules ---------------------------------------------------------------------------
    def save(
        self,
        obj: Obj,
        name: str,
        description: str | None = None,
        tags: dict[str, str | None] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> None:
        """save_model, and the number the model predicts: one past the last given out."""
        mv = self.registry.save_model(
            obj, name, description=description, tags=tags, metrics=metrics
        )
        m = self.models.setdefault(name, ModelState())  # a new model (or one deleted) counts from 1
        m.last += 1
        assert (mv.name, mv.version) == (name, str(m.last))
        m.versions[m.last] = VersionState(
            obj, description, dict(tags or {}), dict(metrics or {}), mv.storage_path, mv.checksum
        )
        self.saved.append((name, m.last))
        assert seen(mv) == self.expected(name, m.last)

    @initialize(
        saves=st.lists(st.tuples(objects, names, tag_maps), max_size=8),
        burst=st.tuples(names, st.integers(0, 11), tag_maps),
        pointers=st.lists(st.tuples(names, st.sampled_from(ALIASES)), max_size=6),
    )
    def head_start(
        self,
        saves: list[tuple[Obj, str, dict[str, str | None]]],
        burst: tuple[str, int, dict[str, str | None]],
        pointers: list[tuple[str, str]],
    ) -> None:
        """Before the rules: several models with versions, often one with ten or more (so
        that numeric order differs from text order), and aliases on some latest versions."""
        for obj, name, tags in saves:
            self.save(obj, name, tags=tags)
        name, count, tags = burst
        for i in range(count):
            self.save(i, name, tags=tags)
        for name, alias in pointers:
            m = self.models.get(name)
            if m is not None:
                self.registry.set_alias(name, alias, m.last)
                m.aliases[alias] = m.last

    @rule(
        data=st.data(),
        obj=objects,
        description=st.sampled_from(DESCRIPTIONS),
        tags=tag_maps,
        metrics=metric_maps,
    )
    def save_model(
        self,
        data: st.DataObject,
        obj: Obj,
        description: str | None,
        tags: dict[str, str | None],
        metrics: dict[str, float],
    ) -> None:
        """Mostly onto a model whose last number was deleted (the number must not come back),
        else one with versions."""
        gapped = [n for n, m in self.models.items() if m.last not in m.versions]
        name = self.pick_from(data, gapped, NAMES) if gapped else self.pick_name(data)
        self.save(obj, name, description, tags, metrics)

    @rule(obj=objects, name=names)
    def save_bare(self, obj: Obj, name: str) -> None:
        """No description, tags or metrics, onto any name (a model deleted or not made yet)."""
        self.save(obj, name)

    @rule(data=st.data(), key=tag_keys, value=tag_values)
    def set_tag(self, data: st.DataObject, key: str, value: str | None) -> None:
        name = self.pick_name(data)
        version = self.pick_version(data, name)
        v = self.version_state(name, version)
        if v is None:
            with pytest.raises(NotFoundError):
                self.registry.set_tag(name, version, key, value)
            return
        self.registry.set_tag(name, version, key, value)
        v.tags[key] = value

    @rule(data=st.data())
    def delete_tag(self, data: st.DataObject) -> None:
        name = self.pick_name(data)
        version = self.pick_version(data, name)
        v = self.version_state(name, version)
        key = self.pick_from(data, list(v.tags) if v else [], TAG_KEYS)
        if v is None or key not in v.tags:
            with pytest.raises(NotFoundError):
                self.registry.delete_tag(name, version, key)
            return
        self.registry.delete_tag(name, version, key)
        del v.tags[key]

    @rule(data=st.data())
    def set_alias(self, data: st.DataObject) -> None:
        name = self.pick_name(data)
        version = self.pick_version(data, name)
        # often an alias another model has: the two must stay apart
        elsewhere = {a for m in self.models.values() for a in m.aliases}
        alias = self.pick_from(data, list(elsewhere), ALIASES + DIGIT_ALIASES)
        if alias.isdigit():  # refused whether or not the version exists
            with pytest.raises(InvalidInputError):
                self.registry.set_alias(name, alias, version)
            with pytest.raises(InvalidInputError):
                self.registry.get_version(name, alias=alias)
            return
        if self.version_state(name, version) is None:
            with pytest.raises(NotFoundError):
                self.registry.set_alias(name, alias, version)
            return
        self.registry.set_alias(name, alias, version)  # creates it, or moves it here
        self.models[name].aliases[alias] = int(version)

    @rule(data=st.data())
    def delete_alias(self, data: st.DataObject) -> None:
        name = self.pick_name(data, aliased=True)
        m = self.models.get(name)
        alias = self.pick_from(data, list(m.aliases) if m else [], ALIASES)
        if m is None or alias not in m.aliases:
            with pytest.raises(NotFoundError):
                self.registry.delete_alias(name, alias)
            return
        self.registry.delete_alias(name, alias)
        del m.aliases[alias]

    @rule(data=st.data())
    def get_by_alias(self, data: st.DataObject) -> None:
        name = self.pick_name(data, aliased=True)
        m = self.models.get(name)
        alias = self.pick_from(data, list(m.aliases) if m else [], ALIASES)
        if m is None or alias not in m.aliases:
            with pytest.raises(NotFoundError):
                self.registry.get_version(name, alias=alias)
            return
        number = m.aliases[alias]
        assert seen(self.registry.get_version(name, alias=alias)) == self.expected(name, number)
        assert self.registry.load_model(name, alias=alias) == m.versions[number].obj

    @rule(data=st.data(), then_save=st.booleans(), obj=objects)
    def delete_version(self, data: st.DataObject, then_save: bool, obj: Obj) -> None:
        """Then, half the time, a save straight away: the number deleted must not come back
        (whichever save rules this example enables)."""
        name = self.pick_name(data)
        version = self.pick_version(data, name)
        if self.version_state(name, version) is None:
            with pytest.raises(NotFoundError):
                self.registry.delete_version(name, version)
            return
        self.registry.delete_version(name, version)
        self.deleted = True
        m = self.models[name]
        del m.versions[int(version)]  # m.last stays: the number is never given out again
        m.aliases = {a: n for a, n in m.aliases.items() if n != int(version)}
        if then_save:
            self.save(obj, name)

    @rule(name=names)
    def delete_model(self, name: str) -> None:
        if name not in self.models:
            with pytest.raises(NotFoundError):
                self.registry.delete_model(name)
            return
        self.registry.delete_model(name)
        self.deleted = True
        del self.models[name]  # its counter goes with it: a new model of this name starts at 1

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def models_in_code_point_order(self) -> None:
        assert [m.name for m in self.registry.list_models()] == sorted(self.models)

    @invariant()
    def versions_of_each_model(self) -> None:
        for name in NAMES:
            m = self.models.get(name)
            if m is None:
                with pytest.raises(NotFoundError):
                    self.registry.list_versions(name)
                with pytest.raises(NotFoundError):
                    self.registry.get_version(name)
                continue
            listed = [seen(mv) for mv in self.registry.list_versions(name)]
            assert listed == [self.expected(name, n) for n in sorted(m.versions)]
            if not m.versions:  # the model stays when its last version is deleted
                with pytest.raises(NotFoundError):
                    self.registry.get_version(name)
                continue
            latest = max(m.versions)
            assert seen(self.registry.get_version(name)) == self.expected(name, latest)

    @invariant()
    def latest_versions_one_per_model(self) -> None:
        assert [seen(mv) for mv in self.registry.latest_versions()] == [
            self.expected(name, max(m.versions))
            for name, m in sorted(self.models.items())
            if m.versions
        ]

    @invariant()
    def find_by_tag_exact(self) -> None:
        """Each key with one value (None: any), a different one at each step: every pair
        comes round every few steps."""
        self.checks += 1
        for i, key in enumerate(TAG_KEYS):
            self.check_find_by_tag(key, TAG_VALUES[(self.checks + i) % len(TAG_VALUES)])

    @invariant()
    def files_load(self) -> None:
        """load_model gives back the object saved: after a save, of the new version; after a
        delete, of every version and (no number) of each latest, so that a delete that took
        another version's or model's file shows. Other steps write no file."""
        paths = [v.storage_path for m in self.models.values() for v in m.versions.values()]
        assert len(set(paths)) == len(paths)  # no save took another version's file
        if self.deleted:
            for name, m in self.models.items():
                for number, v in m.versions.items():
                    assert self.registry.load_model(name, number) == v.obj
                if m.versions:
                    assert self.registry.load_model(name) == m.versions[max(m.versions)].obj
        else:
            for name, number in self.saved:
                assert self.registry.load_model(name, number) == self.version_obj(name, number)
        self.saved, self.deleted = [], False


def test_registry_agrees_with_a_model(registry: ModelRegistry) -> None:
    class Machine(RegistryMachine):
        pass

    Machine.registry = registry
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=int(os.environ.get("REGISTRY_TEST_STATEFUL_EXAMPLES", "25")),
            stateful_step_count=20,
            deadline=None,
            database=None,  # writes nothing into the work tree
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
