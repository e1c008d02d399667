"""Generate the JSON Schema files under schemas/json/ from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.models import ALL_MODELS

JSON_DIR = Path(__file__).with_name("json")
SCHEMA_BASE_ID = "urn:vn-moh:vaccination-complaints:"


def render() -> dict[str, str]:
    """File name -> file text, for every model of the contract."""
    files = {}
    for name, model in ALL_MODELS.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE_ID}{name}",
            **model.model_json_schema(),
        }
        files[f"{name}.schema.json"] = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return files


def export(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in render().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drift(directory: Path = JSON_DIR) -> list[str]:
    """Names of the files that differ from what the models generate (or are missing/extra)."""
    expected = render()
    problems = [name for name, text in expected.items()
                if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text]
    problems += [p.name for p in directory.glob("*.schema.json") if p.name not in expected]
    return sorted(problems)
