"""snapshot-svc's own dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from automl_common.http import InternalClient
from snapshot_svc.settings import SnapshotSettings
from snapshot_svc.snapshots.build import SnapshotBuilder


def _builder(request: Request) -> SnapshotBuilder:
    builder: SnapshotBuilder = request.app.state.builder
    return builder


def _datasets(request: Request) -> InternalClient:
    client: InternalClient = request.app.state.datasets
    return client


def _settings(request: Request) -> SnapshotSettings:
    settings: SnapshotSettings = request.app.state.settings
    return settings


BuilderDep = Annotated[SnapshotBuilder, Depends(_builder)]
DatasetsDep = Annotated[InternalClient, Depends(_datasets)]
SnapshotSettingsDep = Annotated[SnapshotSettings, Depends(_settings)]
