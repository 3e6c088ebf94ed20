"""A detector's inputs and outputs without a replica: the options a call sets travel with the image (into a
task row and back), only a detector takes them, a deployment's per-class cut-offs reach the replica, and the
batch results hold the detections (JSON lines and CSV)."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from automl_common.errors import InvalidRequest
from automl_common.ssrf import GuardedFetcher, UrlPolicy
from automl_proto.inference import ImageInput
from inference_svc.batch.results import ResultWriter, jsonl_to_csv
from inference_svc.batch.sources import BatchItem
from inference_svc.deployments.operating_point import Rule
from inference_svc.inputs import InputReader, restored, stored
from inference_svc.serving.loader import ModelInput
from inference_svc.settings import InferenceSettings
from tests.support.detection import Scene

PNG = Scene("one.png", 32, 32, [("square", (4, 4, 20, 20))]).png()


@pytest.fixture
async def reader(tmp_path: Path) -> InputReader:
    settings = InferenceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db", internal_token="t" * 32)
    fetcher = GuardedFetcher(UrlPolicy(), timeout_s=1, max_bytes=1024)
    try:
        return InputReader(settings, fetcher)
    finally:
        await fetcher.client.aclose()


async def test_only_a_detector_takes_a_threshold_and_a_limit(reader: InputReader) -> None:
    image = ImageInput(image_base64=base64.b64encode(PNG).decode(), score_threshold=0.5, max_detections=3)
    [asked] = await reader.read([image], "object_detection")
    assert asked == {"image": PNG, "score_threshold": 0.5, "max_detections": 3}
    [plain] = await reader.read([ImageInput(image_base64=base64.b64encode(PNG).decode())], "object_detection")
    assert plain == PNG
    with pytest.raises(InvalidRequest, match=r"inputs\[0\]\.score_threshold: only object detection models take it"):
        await reader.read([image], "image_classification")


def test_a_task_row_keeps_the_options_beside_the_image() -> None:
    values: list[ModelInput] = [{"image": PNG, "score_threshold": 0.1}, PNG, "a text"]
    kept = stored(values)
    assert kept[0] == {"score_threshold": 0.1, "image_base64": base64.b64encode(PNG).decode()}
    assert json.loads(json.dumps(kept)) == kept  # plain JSON
    assert restored(kept) == values


def test_a_detectors_operating_point_goes_to_the_replica_with_each_image() -> None:
    rule = Rule.of({"thresholds": {"objects": {"square": 0.6}}, "multilabel": {}, "detects": True})
    assert rule is not None
    asked = rule.asked([PNG, {"image": PNG, "score_threshold": 0.2}])
    assert asked == [
        {"image": PNG, "class_thresholds": {"square": 0.6}},
        {"image": PNG, "score_threshold": 0.2, "class_thresholds": {"square": 0.6}},
    ]
    classifier = Rule.of({"thresholds": {"spam": {"spam": 0.6}}, "multilabel": {"spam": False}})
    assert classifier is not None and classifier.asked([PNG]) == [PNG]


def test_batch_results_hold_the_detections(tmp_path: Path) -> None:
    found = [{"label": "square", "score": 0.9, "box": [1.0, 2.0, 3.0, 4.0]}]
    writer = ResultWriter(tmp_path / "out.jsonl")
    writer.write([BatchItem(0, 10, b""), BatchItem(1, 11, None, "no image")], [{"detections": found}, None])
    writer.close()
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert lines == [{"index": 0, "row_id": 10, "detections": found}, {"index": 1, "row_id": 11, "error": "no image"}]
    jsonl_to_csv(tmp_path / "out.jsonl", tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").read_text().splitlines()))
    assert [json.loads(rows[0]["detections"]), rows[1]["detections"], rows[1]["error"]] == [found, "", "no image"]
