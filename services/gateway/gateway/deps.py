"""The gateway's FastAPI dependencies, as ``Annotated`` aliases named for what they give (its principal's are in
``auth``; the console's, for its cookie sessions, in ``console.deps``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from automl_common.deps import from_state
from automl_common.http import InternalClient
from gateway.auth import Authenticator
from gateway.openapi.document import PublicDocument
from gateway.playground.service import PlaygroundQuotas
from gateway.settings import GatewaySettings
from gateway.usage.meter import UsageMeter

GatewaySettingsDep = Annotated[GatewaySettings, Depends(from_state("settings", GatewaySettings))]
InferenceDep = Annotated[InternalClient, Depends(from_state("inference", InternalClient))]
UsageMeterDep = Annotated[UsageMeter, Depends(from_state("usage_meter", UsageMeter))]
PlaygroundDep = Annotated[PlaygroundQuotas, Depends(from_state("playground_quotas", PlaygroundQuotas))]
PublicDocumentDep = Annotated[PublicDocument, Depends(from_state("public_document", PublicDocument))]
AuthenticatorDep = Annotated[Authenticator, Depends(from_state("authenticator", Authenticator))]
