"""An image snapshot's hold on its dataset (in dataset-svc): its images are read from there, not copied, so
the dataset is kept while the snapshot exists."""

from __future__ import annotations

from automl_common.errors import NotFound
from automl_common.http import InternalClient, url_path
from automl_proto import model_types


def holds_images(model_type: str) -> bool:
    """Whether a snapshot of the type reads images from its dataset (a column its rule reads as an image)."""
    rule = model_types.info(model_type).snapshot
    return any(column.reader == "image" for form in rule.forms for column in form)


class DatasetNotFound(NotFound):
    pass


async def set_dataset_reference(
    datasets: InternalClient, method: str, org_id: str, dataset_id: str, snapshot_id: str
) -> None:
    """``PUT`` the hold, or ``DELETE`` it (a dataset already gone has nothing to release)."""
    response = await datasets.request(
        method, url_path("/internal/datasets/{}/references/{}", dataset_id, snapshot_id), org_id=org_id
    )
    if method == "DELETE" and response.status_code == 404:
        return
    if response.status_code == 404:
        raise DatasetNotFound(f"dataset_id: dataset {dataset_id!r} not found")
    response.raise_for_status()
