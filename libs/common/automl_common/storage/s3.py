"""An S3 object store on boto3 (AWS, MinIO, SeaweedFS). boto3 is blocking, so calls run in threads."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from automl_common.storage.base import (
    DEFAULT_CHUNK_SIZE,
    BlockingReaderStream,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStream,
    StoreUnavailable,
    as_chunks,
    new_hasher,
    run_closing_on_cancel,
    validate_key,
)

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


class S3Store(ObjectStore):
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = 8 * 1024 * 1024,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.part_size = part_size
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=32,
            ),
        )

    async def ensure_bucket(self) -> None:
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except ClientError as error:
            if not _is_missing(error) and error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
            await asyncio.to_thread(self.client.create_bucket, Bucket=self.bucket)

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        validate_key(key)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        hasher = new_hasher()
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            async for chunk in as_chunks(data):
                hasher.update(chunk)
                size += len(chunk)
                buffer += chunk
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        created = await asyncio.to_thread(
                            self.client.create_multipart_upload, Bucket=self.bucket, Key=key, **extra
                        )
                        upload_id = created["UploadId"]
                    part = bytes(buffer[: self.part_size])
                    del buffer[: self.part_size]
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                # Small object: one PUT is cheaper than a multipart upload, and just as atomic.
                response = await asyncio.to_thread(
                    self.client.put_object, Bucket=self.bucket, Key=key, Body=bytes(buffer), **extra
                )
                etag = response.get("ETag")
            else:
                if buffer:
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
                response = await asyncio.to_thread(
                    self.client.complete_multipart_upload,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                etag = response.get("ETag")
        except BaseException:
            if upload_id is not None:
                await asyncio.shield(
                    asyncio.to_thread(
                        self.client.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                )
            raise
        return ObjectInfo(key=key, size=size, etag=etag, content_type=content_type, sha256=hasher.hexdigest())

    async def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        response = await asyncio.to_thread(
            self.client.upload_part, Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def open(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> ObjectStream:
        validate_key(key)
        try:
            response = await run_closing_on_cancel(
                lambda: self.client.get_object(Bucket=self.bucket, Key=key), lambda opened: opened["Body"].close()
            )
        except ClientError as error:
            if _is_missing(error):
                raise ObjectNotFound(f"object {key!r} does not exist") from error
            raise
        info = ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            etag=response.get("ETag"),
            content_type=response.get("ContentType"),
            last_modified=response.get("LastModified"),
        )
        return BlockingReaderStream(info, response["Body"], chunk_size)

    async def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        try:
            response = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _is_missing(error):
                raise ObjectNotFound(f"object {key!r} does not exist") from error
            raise
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            etag=response.get("ETag"),
            content_type=response.get("ContentType"),
            last_modified=response.get("LastModified"),
        )

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            response = await asyncio.to_thread(self.client.list_objects_v2, **kwargs)
            for item in response.get("Contents", []):
                yield ObjectInfo(
                    key=item["Key"],
                    size=int(item["Size"]),
                    etag=item.get("ETag"),
                    last_modified=item.get("LastModified"),
                )
            if not response.get("IsTruncated"):
                return
            token = response["NextContinuationToken"]

    async def delete(self, key: str) -> None:
        validate_key(key)
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        batch: list[dict[str, str]] = []
        deleted = 0
        async for info in self.list(prefix):
            batch.append({"Key": info.key})
            if len(batch) == 1000:  # the DeleteObjects maximum
                deleted += await self._delete_batch(batch)
                batch = []
        if batch:
            deleted += await self._delete_batch(batch)
        return deleted

    async def _delete_batch(self, batch: builtins.list[dict[str, str]]) -> int:
        await asyncio.to_thread(
            self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
        )
        return len(batch)

    async def presigned_url(self, key: str, *, expires_s: int = 3600) -> str | None:
        validate_key(key)
        url: str = await asyncio.to_thread(
            self.client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires_s,
        )
        return url

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except (ClientError, BotoCoreError) as error:
            raise StoreUnavailable(f"bucket {self.bucket!r} cannot be used: {error}"[:300]) from error

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)
