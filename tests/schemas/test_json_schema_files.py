from __future__ import annotations

from schemas.export import JSON_DIR, json_schemas, render


def test_json_schema_files_match_the_models() -> None:
    """Fails when schemas/json drifts from the pydantic models: run `make schemas`."""
    expected = json_schemas()
    on_disk = {p.name for p in JSON_DIR.glob("*.json")}
    assert on_disk == set(expected), "schemas/json has missing or stale files: run `make schemas`"
    for name, schema in expected.items():
        assert (JSON_DIR / name).read_text(encoding="utf-8") == render(schema), (
            f"schemas/json/{name} drifted from the models: run `make schemas`"
        )


def test_union_schema_has_every_event_type() -> None:
    union = json_schemas()["event.schema.json"]
    assert set(union["discriminator"]["mapping"]) == {
        "impression",
        "click",
        "install",
        "conversion",
        "reversal",
    }
