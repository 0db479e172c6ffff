"""JSON Schema files generated from the event models (`python -m schemas.export`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.events import EVENT_TYPES, event_adapter

JSON_DIR = Path(__file__).with_name("json")


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, one per event type plus the discriminated union."""
    out = {f"{name}.schema.json": model.model_json_schema() for name, model in EVENT_TYPES.items()}
    out["event.schema.json"] = event_adapter.json_schema()
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_json_schemas(directory: Path = JSON_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_json_schemas():
        print(p)
