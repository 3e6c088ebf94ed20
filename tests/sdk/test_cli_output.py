"""What the CLI prints is what the API said: an error's detail and a table's cells are text, not Rich markup
(a pattern like ``^[a-z]{1,12}_`` was printed as ``^{1,12}_``)."""

from __future__ import annotations

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
