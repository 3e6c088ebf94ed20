from __future__ import annotations

import io
import json
import logging

from automl_common.context import org_id_var, request_id_var
from automl_common.logging import JsonFormatter


def test_json_lines_carry_service_request_and_org():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("dataset-svc"))
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    request_token = request_id_var.set("req-1")
    org_token = org_id_var.set("org_1")
    try:
        logger.info("uploaded %d rows", 3, extra={"dataset_id": "ds_1"})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        request_id_var.reset(request_token)
        org_id_var.reset(org_token)
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "uploaded 3 rows"
    assert first["service"] == "dataset-svc"
    assert first["request_id"] == "req-1"
    assert first["org_id"] == "org_1"
    assert first["dataset_id"] == "ds_1"
    assert first["level"] == "info"
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exc"]
