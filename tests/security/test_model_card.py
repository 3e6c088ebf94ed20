"""The model card is markdown the console renders: names, class names and descriptions come from the tenant,
and must show as typed. The finding: a class named ``![x](https://...)`` rendered as an image the console then
fetched from elsewhere (a tracking pixel in every viewer's browser)."""

from __future__ import annotations

from markdown_it import MarkdownIt

from modelkit.card import render_model_card
from tests.libs.modelkit.test_card_and_plots import card_inputs

HOSTILE = "![pixel](https://evil.example/p.png) [click](https://evil.example) <img src=x onerror=alert(1)> `|x"
# As the console renders a card (gateway.console.pages.models).
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def test_tenant_text_in_the_card_renders_as_typed() -> None:
    card = render_model_card(
        card_inputs(
            name=HOSTILE,
            base_model=HOSTILE,
            description=f"first line\n{HOSTILE}\n# not a heading",
            evaluation_data=HOSTILE,
            train_snapshot={
                "id": "snap_1",
                "name": HOSTILE,
                "row_count": 10,
                "heads": [{"name": "spam`|", "multilabel": False, "classes": [{"name": HOSTILE, "count": 4}]}],
            },
        )
    )
    html = MARKDOWN.render(card)
    assert "<img" not in html and "<a " not in html
    assert "evil.example" in html  # shown, as text
    assert html.count("<h1>") == 1  # the description's "# not a heading" is text
    assert html.count("<h2>") == card.count("\n## ")  # every section intact: nothing broke out of a span
    rows = [line for line in card.splitlines() if line.startswith("| ")]
    header_cells = {line.count("|") - line.count("\\|") for line in rows if not line.startswith("| class")}
    assert len(rows) > 5 and all(cells >= 3 for cells in header_cells)
