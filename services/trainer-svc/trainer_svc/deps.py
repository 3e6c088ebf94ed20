"""trainer-svc's own dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from automl_common.deps import from_state
from automl_common.http import InternalClient
from trainer_svc.jobs.worker import Dispatcher
from trainer_svc.models.export import Exporter
from trainer_svc.settings import TrainerSettings

DispatcherDep = Annotated[Dispatcher, Depends(from_state("dispatcher", Dispatcher))]
SnapshotsDep = Annotated[InternalClient, Depends(from_state("snapshots", InternalClient))]
TrainerSettingsDep = Annotated[TrainerSettings, Depends(from_state("settings", TrainerSettings))]
ExporterDep = Annotated[Exporter, Depends(from_state("exporter", Exporter))]
