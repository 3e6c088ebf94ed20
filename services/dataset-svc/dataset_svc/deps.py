"""dataset-svc's own dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from automl_common.deps import from_state
from dataset_svc.datasets.worker import Ingestor
from dataset_svc.settings import DatasetSettings

IngestorDep = Annotated[Ingestor, Depends(from_state("ingestor", Ingestor))]
DatasetSettingsDep = Annotated[DatasetSettings, Depends(from_state("settings", DatasetSettings))]
