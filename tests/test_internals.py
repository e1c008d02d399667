"""The engine's hold on faust-streaming, aiokafka and mode internals (processors/engine/internals.py):
the check passes on the verified versions, refuses a changed version, method or a name gone,
and every private name or override in the engine's code is one it lists."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from faust.transport.conductor import Conductor

from processors.engine import internals, startup
from processors.engine.internals import RELIED_ON, assigned_on_self, problems, where

ENGINE = Path(internals.__file__).parent
LISTED = {name for _, names in RELIED_ON for name in names}


def test_the_installed_libraries_are_the_verified_ones():
    assert problems() == []
    startup.check_libraries()  # what the worker runs before it starts


def test_another_version_is_refused():
    installed = {**internals.PINS, "aiokafka": "0.14.1"}
    assert problems(installed=installed) == ["aiokafka 0.14.1 is installed, the engine was verified with 0.14.0"]


def test_a_changed_method_is_refused_by_name(monkeypatch):
    def add(self, topic, extra=None):  # upstream's signature changed
        return None

    monkeypatch.setattr(Conductor, "add", add)
    (found,) = problems()
    assert found.startswith("changed since verified") and "faust.transport.conductor.Conductor.add" in found
    with pytest.raises(startup.CannotStart, match="Conductor.add"):
        startup.check_libraries()


def test_a_changed_format_is_refused(monkeypatch):
    from faust.stores.rocksdb import Store

    monkeypatch.setattr(Store, "offset_key", b"__faust\0offset2__")
    (found,) = problems()
    assert "faust.stores.rocksdb.Store.offset_key" in found


def test_a_name_no_longer_defined_is_refused(monkeypatch):
    monkeypatch.setattr(internals, "RELIED_ON", [*RELIED_ON, (Conductor, ("_tp_index", "_gone"))])
    assert problems() == ["no longer defined: faust.transport.conductor.Conductor._gone"]


def test_an_instance_attribute_counts_only_where_self_assigns_it():
    assert where(Conductor, "_tp_index") is Conductor  # self._tp_index = ... in __init__
    assert where(Conductor, "tp_index") is None  # a name merely mentioned does not count


def engine_modules() -> list:
    return [importlib.import_module(f"processors.engine.{p.stem}") for p in sorted(ENGINE.glob("*.py"))
            if p.stem != "__init__"]


def own_names() -> set[str]:
    """Functions, classes and attributes the engine defines itself (self.x = ...)."""
    names: set[str] = set()
    for path in ENGINE.glob("*.py"):
        tree = ast.parse(path.read_text())
        names |= assigned_on_self(tree)
        names |= {node.name for node in ast.walk(tree)
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names


def private_names_used() -> dict[str, set[str]]:
    """Private names the engine reads or calls (attributes, and getattr/hasattr strings)."""
    used: dict[str, set[str]] = {}
    for path in ENGINE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in {"getattr", "hasattr", "setattr"} and len(node.args) > 1 \
                    and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
                name = node.args[1].value
            if name and name.startswith("_") and not name.startswith("__"):
                used.setdefault(name, set()).add(path.name)
    return used


def test_every_private_upstream_name_the_engine_uses_is_listed():
    own = own_names()
    unlisted = {name: sorted(files) for name, files in private_names_used().items()
                if name not in own and name not in LISTED}
    assert unlisted == {}, "list them in processors/engine/internals.py RELIED_ON"


# Made for every class by the class machinery (ABCMeta; mode's Service.__init_subclass__).
PER_CLASS = {"_abc_impl", "logger", "_tasks"}


def upstream_overrides() -> list[tuple[str, str, type]]:
    """(our class, name, upstream class) for every upstream method or attribute an engine
    class (or a mixin of ours in its MRO) overrides."""
    found = []
    for module in engine_modules():
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            upstream = [k for k in cls.__mro__ if not k.__module__.startswith(("processors.", "builtins"))
                        and k is not object]
            ours = [k for k in cls.__mro__ if k.__module__.startswith("processors.")]
            for klass in ours:
                for name in vars(klass):
                    if name in PER_CLASS or name.startswith("__") and name not in {"__init__", "__post_init__"}:
                        continue
                    for base in upstream:
                        if name in vars(base):
                            found.append((f"{cls.__qualname__}.{name}", name, base))
                            break
    return found


def test_every_override_of_an_upstream_name_is_held_by_its_hash():
    overrides = upstream_overrides()
    assert len(overrides) > 20  # the consumer, producer, recovery and table manager replacements
    listed = {(cls, name) for cls, names in RELIED_ON for name in names}
    unheld = [ours for ours, name, base in overrides
              if not any(name == n and (issubclass(cls_, base) or issubclass(base, cls_)) for cls_, n in listed)]
    assert unheld == [], "list them in processors/engine/internals.py RELIED_ON"
