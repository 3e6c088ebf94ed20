"""The committed JSON Schemas in proto/schemas match the pydantic contracts (run `make proto` after a change)."""

from __future__ import annotations

from pathlib import Path

from automl_proto.export import render

SCHEMAS = Path(__file__).resolve().parents[2] / "proto" / "schemas"


def test_committed_schemas_match_the_contracts():
    rendered = render()
    committed = {path.name: path.read_text() for path in SCHEMAS.glob("*.json")}
    assert set(committed) == set(rendered), "a schema file is missing or stale; run `make proto`"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} drifted from its model; run `make proto`"
