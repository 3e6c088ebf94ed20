"""What the console shows of detection and segmentation, from its templates with what their handlers give
them: a dataset row's boxes over its image (and editable as JSON), a mask column's preview, a playground answer
drawn over the scored image (boxes; a mask with its legend), and a segmenter's figures on its model page."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI

from automl_common import palette
from automl_proto.datasets import Column, Row
from automl_proto.metrics import SegmentationImage, SegmentationReport


def _render(name: str, **context: Any) -> str:
    from gateway.console import install

    app = FastAPI()
    install(app, "x" * 32, session_ttl_s=60, secure_cookies=False)
    base = {"session": None, "csrf_token": "", "section": "datasets"}
    return str(app.state.console.templates.get_template(name).render({**base, **context}))


def _column(name: str, kind: str) -> Column:
    return Column.model_validate(
        {"name": name, "type": kind, "inferred_type": kind, "distinct_count": 1, "empty_count": 0, "samples": []}
    )


def test_a_rows_boxes_are_drawn_over_its_image_and_edited_as_json() -> None:
    columns = [_column("image", "image"), _column("boxes", "boxes"), _column("mask", "mask")]
    asset = {"status": "ok", "sha256": "a" * 64, "reason": None, "width": 64, "height": 48}
    row = Row.model_validate(
        {
            "id": 7, "index": 3, "line": 4, "status": "ok", "errors": None,
            "values": {"image": "images/3.png", "mask": "masks/3.png",
                       "boxes": [{"label": "logo", "box": [4.0, 6.0, 20.0, 30.0]}]},
            "assets": {"image": asset, "mask": {**asset, "histogram": {"0": 3000, "1": 72}}},
        }
    )  # fmt: skip
    dataset = SimpleNamespace(id="ds_1")  # the row template reads the dataset's id only
    page = _render("dataset_row.html", dataset=dataset, row=row, columns=columns)
    assert '<svg class="thumb boxes" viewBox="0 0 64 48"' in page
    assert '<rect x="4.0" y="6.0" width="16.0" height="24.0"' in page and "<title>logo</title>" in page
    assert 'name="boxes"' in page and '[{"box": [4.0, 6.0, 20.0, 30.0], "label": "logo"}]</textarea>' in page
    assert "/rows/7/thumbnail?column=mask" in page  # a mask is previewed as images are (in the class colours)


def test_a_playground_answer_is_drawn_over_the_image() -> None:
    colours = [palette.hex_colour(index) for index in range(256)]
    found = {"detections": [{"label": "logo", "score": 0.91, "box": [1.0, 2.0, 30.0, 40.0]}]}
    boxes = _render("playground_answer.html", output=found, remaining=9, scored_image="data:image/png;base64,AA==",
                    class_colours=colours)  # fmt: skip
    assert 'class="scored drawn" data-detections="' in boxes and "1 objects found" in boxes and "0.9100" in boxes
    mask = {
        "mask_png_base64": "QUJD",
        "classes": ["background", "logo"],
        "pixel_shares": {"background": 0.75, "logo": 0.25},
    }
    painted = _render("playground_answer.html", output=mask, remaining=9, scored_image="data:image/png;base64,AA==",
                      class_colours=colours)  # fmt: skip
    assert 'data-mask="data:image/png;base64,QUJD"' in painted and "data-colours=" in painted
    assert f'fill="{palette.hex_colour(1)}"' in painted and "25.0%" in painted


def test_a_segmenters_model_page_shows_its_figures_and_confusion_matrix() -> None:
    report = SegmentationReport(
        metrics={"aAcc": 0.9, "mIoU": 0.7, "mAcc": 0.8}, classes=["background", "logo"],
        per_class={
            "background": {"IoU": 0.88, "Acc": 0.95, "pixels": 900}, "logo": {"IoU": 0.52, "Acc": None, "pixels": 0},
        },
        confusion_matrix=[[855, 45], [0, 0]], test_images=3,
        worst_images=[SegmentationImage(row_id=4, score=0.61, image="data:image/jpeg;base64,AA==")],
    )  # fmt: skip
    page = _render("model_segmentation.html", g=report)
    assert "Pixels classified, on 3 test images" in page
    assert '<th scope="row">mIoU</th><td class="num">0.7000</td>' in page
    assert '<td class="num">855</td><td class="num">45</td>' in page and "n/a" in page
    assert "61% of pixels right" in page
