"""What the CLI prints is what the API said: an error's detail and a table's cells are text, not Rich markup
(a pattern like ``^[a-z]{1,12}_`` was printed as ``^{1,12}_``)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import typer

from automl_client import errors
from automl_client.cli.output import EXIT_INVALID, fail, listing


def test_an_error_detail_is_printed_as_the_api_wrote_it(capsys: pytest.CaptureFixture[str]) -> None:
    detail = "model_id: must match ^[a-z]{1,12}_[0-9A-HJKMNP-TV-Z]{26}$ [bold]not markup[/]"
    error = errors.InvalidRequest("InvalidRequest", detail, "req_[x]", 422, httpx.Headers())
    with pytest.raises(typer.Exit) as ended:
        fail(error, as_json=False)
    assert ended.value.exit_code == EXIT_INVALID
    printed = capsys.readouterr().err
    assert detail in printed and "req_[x]" in printed


def test_table_cells_are_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "[draft] reviews", "classes": "[red]spam[/red]"}]
    listing(rows, [("name", lambda r: r["name"]), ("classes", lambda r: r["classes"])], False, "snapshots")
    printed = capsys.readouterr().out
    assert "[draft] reviews" in printed and "[red]spam[/red]" in printed


def test_at_80_columns_ids_and_names_stay_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a narrow terminal a table keeps each id and name on one line (what a person copies); the columns
    that do not fit are left out, and the caption says so."""
    from rich.console import Console

    from automl_client.cli import output

    narrow = Console(width=80, highlight=False, soft_wrap=True, record=True)
    monkeypatch.setattr(output, "console", narrow)
    rows = [
        {"id": f"model_01M942TJ766N0VV115K564HTP{i}", "name": f"sentiment-classifier-{i}", "status": "succeeded"}
        | {"type": "text_classification", "method": "last_layer", "base": "minilm-l6-v2-multilingual"}
        for i in range(3)
    ]
    columns = [(name, lambda r, name=name: r[name]) for name in ("id", "name", "type", "method", "status", "base")]
    listing(rows, columns, False, "models")
    lines = narrow.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    for row in rows:
        assert any(row["id"] in line and row["name"] in line for line in lines), lines
    assert "left out at this width" in "\n".join(lines)


def test_quiet_prints_the_ids_alone(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": "snap_1", "name": "a"}, {"id": "snap_2", "name": "b"}]

    class Row:
        def __init__(self, values: dict[str, str]) -> None:
            self.id, self.name = values["id"], values["name"]

    listing([Row(row) for row in rows], [("id", lambda r: r.id)], False, "snapshots", quiet=True)
    assert capsys.readouterr().out == "snap_1\nsnap_2\n"


def test_an_image_file_is_sent_as_base64_and_options_get_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--image FILE`` reads a local file into the request (no base64 by hand); a training option given as an
    option of its own is pointed to ``--option``; a delete asks first and sends nothing when told no."""
    import base64
    import json

    from typer.testing import CliRunner

    from automl_client import Client
    from automl_client.cli import app, state

    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
    seen: list[object] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content) if request.content else request.method)
        body = {"heads": {"label": {"predicted": ["cat"], "scores": {"cat": 0.9, "dog": 0.1}}}}
        return httpx.Response(200, json=body, headers={"X-Playground-Remaining": "41"})

    def offline(url: str | None, api_key: str | None, *, profile: str | None = None) -> Client:
        return Client(url, api_key, profile=profile, transport=httpx.MockTransport(answer))

    monkeypatch.setattr(state, "Client", offline)
    env = {"AUTOML_URL": "http://platform.test", "AUTOML_API_KEY": "aml_0000000000000000_" + "x" * 40}
    env |= {"AUTOML_CONFIG": "/nonexistent/automl.toml", "COLUMNS": "200"}
    runner = CliRunner()
    model = "model_01M942TJ766N0VV115K564HTP2"
    result = runner.invoke(app, ["playground", model, "--image", str(image)], env=env)
    assert result.exit_code == 0, result.output
    assert seen == [{"input": {"image_base64": base64.b64encode(image.read_bytes()).decode()}}]
    assert "cat" in result.output

    hinted = runner.invoke(app, ["models", "create", "--max-epochs", "3"], env=env)
    assert hinted.exit_code == 2 and "--option max_epochs=VALUE" in hinted.output

    asked = runner.invoke(app, ["models", "delete", model], input="n\n", env=env)
    assert asked.exit_code == 1 and "Delete model" in asked.output and len(seen) == 1  # nothing sent


def test_hints_name_commands_not_routes(capsys: pytest.CaptureFixture[str]) -> None:
    detail = "base_model: base model 'bert' not found (GET /v1/base-models lists them)"
    error = errors.NotFound("NotFound", detail, "req_1", 404, httpx.Headers())
    with pytest.raises(typer.Exit):
        fail(error, as_json=False)
    printed = capsys.readouterr().err
    assert "(`automl base-models list` lists them)" in printed and "GET /v1" not in printed


def test_the_metrics_tables_fit_80_columns_with_every_figure_whole() -> None:
    """`automl models metrics` in an 80-column terminal (or piped): class names and figures whole, no "…"."""
    import numpy as np
    from rich.console import Console

    from automl_client.cli.training import metrics_tables
    from automl_proto.metrics import ModelMetrics
    from modelkit.metrics import HeadInput, delta, evaluate, majority_baseline

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    scores = np.clip(np.eye(3)[y] * 0.7 + rng.random((300, 3)) * 0.4, 0.01, None)
    scores /= scores.sum(axis=1, keepdims=True)
    heads = [HeadInput("label", ["ham", "spam", "[red]promo"], y, scores)]
    report, baseline = evaluate(heads), evaluate(majority_baseline(heads))
    metrics = ModelMetrics.model_validate(
        {"model_id": "model_1", "threshold": None, "heads": report["heads"], "overall": report["overall"],
         "baseline": {"name": "the majority-class predictor", **baseline}, "delta": delta(report, baseline),
         "epochs": [], "chosen_epoch": None, "chosen_step": None, "selection": {"name": "val_f1", "value": None},
         "stopped_early": False, "kept_heads": [], "training": {}}
    )  # fmt: skip
    narrow = Console(width=80, record=True)
    for table in metrics_tables(metrics):
        narrow.print(table)
    text = narrow.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert text.count("[red]promo") == 3  # a class name is text, not markup: its row, column and confusion row
    for name, figures in report["heads"]["label"]["classes"].items():
        assert name in text and f"{figures['precision']:.4f}" in text and f"{figures['average_precision']:.4f}" in text


def test_a_detectors_answer_prints_one_line_per_object(capsys: pytest.CaptureFixture[str]) -> None:
    from automl_client.cli.serving import _print_output
    from automl_proto import inference

    found = inference.Detection(label="[logo]", score=0.91234, box=[1.5, 2.0, 30.25, 40.0])
    _print_output(inference.Detections(detections=[found]))
    _print_output(inference.Detections(detections=[]))
    printed = capsys.readouterr().out
    assert "[logo] 0.912  [1.5, 2, 30.25, 40]" in printed and "no objects found" in printed
