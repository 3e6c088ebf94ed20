"""The model-type table: one line per type that every part asks, importable without torch."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from pydantic import ValidationError

from automl_proto import model_types
from automl_proto.model_types import TABLE, ModelTypeInfo, SnapshotColumn, SnapshotRule
from automl_proto.models import BaseModelRegister
from automl_proto.snapshots import SnapshotCreate
from snapshot_svc.snapshots.build import column_problems
from snapshot_svc.snapshots.validation import InvalidRow, Spec, ValidRow, validate_row

DATASET = "ds_01JEX9Q4W6V8Z3T5N7R2K0M1PB"


def test_the_table_and_the_parts_that_read_it_import_no_torch():
    modules = "automl_proto.model_types, automl_proto.snapshots, snapshot_svc.snapshots.worker, automl_client.cli"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stderr


def test_every_line_is_implemented_by_its_modelkit_class():
    from modelkit import model_types as implementations

    for name, line in TABLE.items():
        assert implementations.task(name).name == name
        assert line.methods, name
        assert set(line.method_defaults) <= set(line.methods), name


def test_the_schemas_list_the_table_and_refuse_an_unknown_type_by_name():
    for schema in (SnapshotCreate.model_json_schema(), BaseModelRegister.model_json_schema()):
        field = schema["properties"]["type" if "type" in schema["properties"] else "model_type"]
        assert field["enum"] == list(model_types.NAMES)
    with pytest.raises(ValidationError, match="'sound_events' is not a model type here"):
        SnapshotCreate(dataset_id=DATASET, name="s", type="sound_events", input_column="clip")
    with pytest.raises(model_types.UnknownModelType, match="supported: text_classification, image_classification"):
        model_types.info("sound_events")


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ({"type": "text_classification", "heads": [{"column": "label"}]}, "needs input_column"),
        ({"type": "text_classification", "input_column": "t"}, "at least one head"),
        ({"type": "llm", "prompt_column": "p"}, "needs prompt_column and completion_column, or messages_column"),
        ({"type": "llm", "messages_column": "m", "heads": [{"column": "label"}]}, "have no label heads"),
        (
            {"type": "llm", "input_column": "t", "messages_column": "m"},
            "input_column: not a column of llm snapshots",
        ),
    ],
)
def test_a_snapshot_request_is_checked_against_its_types_rule(body, refusal):
    with pytest.raises(ValidationError, match=refusal):
        SnapshotCreate(dataset_id=DATASET, name="s", **body)


def test_capabilities_replace_family_checks():
    assert [name for name, line in TABLE.items() if line.can("thresholds")] == [
        "text_classification",
        "image_classification",
    ]
    assert TABLE["llm"].can("exportable") and TABLE["llm"].can("shares_base")
    assert not TABLE["llm"].can("from_parent")


def test_a_new_line_is_validated_by_snapshot_svc_without_code_of_its_own(monkeypatch):
    """A type that reads a text and a second text (say, a question and its passage): one table line, and
    snapshot-svc checks its columns and rows by the line's rule."""
    line = ModelTypeInfo(
        "pair_classification",
        "pair classification",
        "classifier",
        "text",
        SnapshotRule(
            forms=(
                (
                    SnapshotColumn("prompt_column", "text", "question", ("text",)),
                    SnapshotColumn("completion_column", "text", "passage", ("text",)),
                ),
            ),
            heads=True,
        ),
        ("last_layer",),
        "modelkit.model_types.text_classification:TextClassification",
    )
    monkeypatch.setitem(TABLE, line.name, line)
    request = SnapshotCreate(
        dataset_id=DATASET,
        name="pairs",
        type="pair_classification",
        prompt_column="q",
        completion_column="p",
        heads=[{"column": "label"}],
    )
    spec = Spec.from_dict({"type": request.type, **request.model_dump(exclude={"type"})}, max_text_chars=20)
    assert spec.stored == ["question", "passage"]
    assert column_problems(spec, {"q": "text", "p": "json", "label": "label"}) == [
        "completion_column: column 'p' is mapped as 'json'; it must be text"
    ]
    row = {"id": 1, "index": 0, "values": {"q": "why?", "p": "because", "label": "yes"}}
    valid = validate_row(row, spec)
    assert isinstance(valid, ValidRow) and valid.values == ["why?", "because"]
    empty = validate_row(row | {"values": {"q": "why?", "p": " ", "label": "yes"}}, spec)
    long = validate_row(row | {"values": {"q": "why?" * 3, "p": "because" * 2, "label": "yes"}}, spec)
    assert isinstance(empty, InvalidRow) and empty.reasons == ["missing_input"]
    assert isinstance(long, InvalidRow) and long.reasons == ["text_too_long"]
    assert replace(line, name="x").snapshot_column == "question"
