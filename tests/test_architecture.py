"""The import contract of docs/architecture.md, checked by import-linter (its contracts are in
pyproject.toml): the domain imports no engine, the worker's packages stand in layers, the
schemas stand alone. And the check itself refuses what it should."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from harness.processes import REPO

CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint(config: Path) -> int:
    return lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_the_import_contract_is_kept():
    assert lint(REPO / "pyproject.toml") == 0


def domain_contract() -> dict:
    (contract,) = [c for c in CONTRACTS["contracts"] if c.get("source_modules") == ["processors.domain"]]
    return contract


def toy_project(root: Path, rules: str) -> Path:
    """A package `toy` laid out as processors/ is, its domain importing what `rules` says,
    checked by the domain contract of pyproject.toml with `processors` renamed `toy`."""
    for module, text in {"toy/__init__.py": "", "toy/domain/__init__.py": "", "toy/domain/rules.py": rules,
                         "toy/engine/__init__.py": "import asyncio\nx = 1\n", "toy/shards.py": "",
                         "toy/ops/__init__.py": "", "toy/testing/__init__.py": ""}.items():
        (root / module).parent.mkdir(parents=True, exist_ok=True)
        (root / module).write_text(text)
    contract = domain_contract()
    forbidden = [m.replace("processors", "toy") for m in contract["forbidden_modules"]
                 if m.split(".")[0] not in {"producers", "sinks", "offices"}]
    config = root / "importlinter.toml"
    config.write_text(f"""[tool.importlinter]
root_packages = ["toy"]
include_external_packages = true

[[tool.importlinter.contracts]]
name = "toy domain"
type = "forbidden"
source_modules = ["toy.domain"]
forbidden_modules = {forbidden!r}
""".replace("'", '"'))
    return config


@pytest.mark.parametrize("rules", ["import asyncio\n", "from faust import Record\n", "import aiokafka\n",
                                   "import mode\n", "from toy.engine import x\n", "from toy import shards\n",
                                   "def later():\n    import asyncio\n"])
def test_a_domain_that_imports_an_engine_is_refused(rules, tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert lint(toy_project(tmp_path, rules)) == 1
    assert "toy.domain is not allowed to import" in capsys.readouterr().out


def test_a_domain_of_plain_rules_passes(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert lint(toy_project(tmp_path, "import datetime\nimport json\n")) == 0
