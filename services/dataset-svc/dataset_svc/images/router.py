from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Response

from automl_common.auth import OrgIdDep
from automl_common.deps import SessionDep, StoreDep
from automl_common.errors import NotFound, error_responses
from automl_common.ids import IdPath, RowIdPath
from automl_common.responses import file_responses
from automl_common.storage import ObjectNotFound, image_key, thumbnail_key
from dataset_svc.datasets.repository import DatasetRepository
from dataset_svc.datasets.service import get_dataset_row
from dataset_svc.deps import DatasetSettingsDep
from dataset_svc.images.repository import AssetRepository
from dataset_svc.images.validation import make_thumbnail
from dataset_svc.rows.repository import RowRepository

router = APIRouter(prefix="/v1/datasets/{dataset_id}/rows/{row_id}", tags=["images"])


class ImageNotAvailable(NotFound):
    pass


@router.get(
    "/thumbnail",
    response_class=Response,
    responses=file_responses("the preview image", "image/jpeg", "image/png") | error_responses(NotFound),
)
async def thumbnail(
    dataset_id: IdPath,
    row_id: RowIdPath,
    session: SessionDep,
    store: StoreDep,
    settings: DatasetSettingsDep,
    org_id: OrgIdDep,
    column: Annotated[str | None, Query(max_length=200, description="the image column (default: the first)")] = None,
) -> Response:
    """A small preview of a row's image, made once and kept."""
    await get_dataset_row(session, org_id, dataset_id)
    row = await RowRepository(session).get_in_dataset(dataset_id, row_id)
    if row is None:
        raise ImageNotAvailable(f"row {row_id} not found in dataset {dataset_id!r}")
    assets = sorted(await AssetRepository(session).for_rows([row_id]), key=lambda asset: asset.column)
    asset = next((a for a in assets if column is None or a.column == column), None)
    if asset is None or asset.status != "ok" or asset.sha256 is None:
        raise ImageNotAvailable(f"row {row_id} has no stored image{f' in column {column!r}' if column else ''}")
    types = {item.name: item.type for item in await DatasetRepository(session).columns(dataset_id)}
    mask = types.get(asset.column) == "mask"
    key = thumbnail_key(org_id, asset.sha256, settings.thumbnail_size, "mask" if mask else "")
    try:
        async with await store.open(key) as stream:
            data = b"".join([chunk async for chunk in stream])
            content_type = stream.info.content_type
    except ObjectNotFound:
        original = await store.get_bytes(image_key(org_id, asset.sha256))
        data, content_type = await asyncio.to_thread(make_thumbnail, original, settings.thumbnail_size, mask=mask)
        await store.put(key, data, content_type=content_type)
    if content_type is None:
        content_type = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=86400"})
