"""Export every contract's JSON Schema to ``proto/schemas`` (``python -m automl_proto.export``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from automl_proto import datasets, inference, metrics, models, openai, orgs, snapshots, training

CONTRACTS: dict[str, type[BaseModel]] = {
    "org_create": orgs.OrgCreate,
    "org": orgs.Org,
    "org_created": orgs.OrgCreated,
    "key_create": orgs.KeyCreate,
    "key": orgs.Key,
    "key_created": orgs.KeyCreated,
    "dataset": datasets.Dataset,
    "column_mapping": datasets.ColumnMapping,
    "row": datasets.Row,
    "rows_create": datasets.RowsCreate,
    "row_values": datasets.RowValues,
    "dataset_export_header": datasets.ExportHeader,
    "dataset_export_trailer": datasets.ExportTrailer,
    "snapshot_create": snapshots.SnapshotCreate,
    "snapshot": snapshots.Snapshot,
    "snapshot_invalid_row": snapshots.InvalidRow,
    "split_create": snapshots.SplitCreate,
    "split": snapshots.Split,
    "compatibility": snapshots.Compatibility,
    "base_model": models.BaseModelInfo,
    "base_model_register": models.BaseModelRegister,
    "model_create": models.ModelCreate,
    "model": models.Model,
    "model_event": models.ModelEvent,
    "model_metrics": metrics.ModelMetrics,
    "training_options": models.TrainingOptions,
    "job_spec": training.JobSpec,
    "job_event": training.JobEvent,
    "deployment_create": inference.DeploymentCreate,
    "deployment_update": inference.DeploymentUpdate,
    "deployment": inference.Deployment,
    "predict_request": inference.PredictRequest,
    "predict_response": inference.PredictResponse,
    "playground_request": inference.PlaygroundRequest,
    "task_create": inference.TaskCreate,
    "task": inference.Task,
    "batch_prediction_create": inference.BatchPredictionCreate,
    "batch_prediction": inference.BatchPrediction,
    "usage": inference.Usage,
    "model_artifacts": inference.ModelArtifacts,
    "chat_completion_request": openai.ChatCompletionRequest,
    "chat_completion": openai.ChatCompletion,
    "completion_request": openai.CompletionRequest,
    "completion": openai.Completion,
}


def render() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
        for name, model in CONTRACTS.items()
    }


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "schemas"
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text)


if __name__ == "__main__":
    main()
