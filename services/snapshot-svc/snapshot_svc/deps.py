"""snapshot-svc's own dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from automl_common.deps import from_state
from automl_common.http import InternalClient
from snapshot_svc.settings import SnapshotSettings
from snapshot_svc.snapshots.worker import SnapshotBuilder

BuilderDep = Annotated[SnapshotBuilder, Depends(from_state("builder", SnapshotBuilder))]
DatasetsDep = Annotated[InternalClient, Depends(from_state("datasets", InternalClient))]
SnapshotSettingsDep = Annotated[SnapshotSettings, Depends(from_state("settings", SnapshotSettings))]
