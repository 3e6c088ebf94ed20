"""The internal HTTP client: service-to-service calls carrying the internal token, request id and org id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from automl_common.context import (
    INTERNAL_TOKEN_HEADER,
    ORG_ID_HEADER,
    REQUEST_ID_HEADER,
    org_id_var,
    request_id_var,
)
from automl_common.errors import AutoMLError, BadGateway, GatewayTimeout, ServiceUnavailable
from automl_common.schemas import ErrorBody

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
Contract = TypeVar("Contract", bound=BaseModel)
# What a caller makes of a refusal it expects (404, 409...): its own error, from the callee's reason.
ErrorFor = Callable[[str], Exception]


def upstream_error(error: httpx.TransportError, service: str) -> AutoMLError:
    """Map a transport failure to the status a caller should see."""
    if isinstance(error, httpx.TimeoutException):
        return GatewayTimeout(f"{service} did not answer in time")
    if isinstance(error, httpx.ConnectError):
        return ServiceUnavailable(f"{service} is unavailable", headers={"Retry-After": "1"})
    return BadGateway(f"{service} failed: {type(error).__name__}")


class InternalClient:
    """One pooled client per upstream service. Build in a lifespan; close on shutdown."""

    def __init__(
        self,
        service: str,
        base_url: str,
        internal_token: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.service = service
        self._token = internal_token
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def headers(self, org_id: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {INTERNAL_TOKEN_HEADER: self._token}
        request_id = request_id_var.get()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        org = org_id or org_id_var.get()
        if org:
            headers[ORG_ID_HEADER] = org
        if extra:
            headers.update(extra)
        return headers

    async def request(self, method: str, path: str, *, org_id: str | None = None, **kwargs: Any) -> httpx.Response:
        """Send a request; transport failures become 502/503/504 errors, HTTP answers are returned as-is."""
        headers = self.headers(org_id, kwargs.pop("headers", None))
        try:
            return await self.client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as error:
            raise upstream_error(error, self.service) from error

    async def typed(
        self,
        contract: type[Contract],
        method: str,
        path: str,
        *,
        org_id: str | None = None,
        errors: Mapping[int, ErrorFor] | None = None,
        **kwargs: Any,
    ) -> Contract:
        """A call whose answer is ``contract``. A status in ``errors`` becomes the caller's error with the
        callee's reason; any other answer (an error status, a body of another shape) is the callee's failure,
        502."""
        answer = await self.request(method, path, org_id=org_id, **kwargs)
        if answer.status_code >= 300:
            if errors and answer.status_code in errors:
                raise errors[answer.status_code](error_detail(answer))
            raise BadGateway(f"{self.service} answered {answer.status_code} to {method} {path}")
        try:
            return contract.model_validate_json(answer.content)
        except ValidationError as e:
            raise BadGateway(f"{self.service} answered {method} {path} with no {contract.__name__}") from e

    async def aclose(self) -> None:
        await self.client.aclose()


def error_detail(answer: httpx.Response) -> str:
    """The reason in an error answer of the shape every service gives (``{"error", "detail"}``)."""
    try:
        return ErrorBody.model_validate_json(answer.content).detail
    except ValidationError:
        return f"answered {answer.status_code}"


def url_path(template: str, *segments: str | int) -> str:
    """``template`` with each ``{}`` replaced by one escaped path segment: an id can never add a segment, a
    query or a fragment to an internal URL, whatever it holds."""
    return template.format(*(quote(str(segment), safe="") for segment in segments))
