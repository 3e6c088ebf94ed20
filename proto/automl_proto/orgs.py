"""Public schemas of orgs and API keys (served by the gateway)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automl_proto.ids import ResourceId

KeyScope = Literal["admin", "deployment"]


class OrgCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="the org's name: letters, digits, spaces and ._- (1-100 characters)",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
    )


class Org(BaseModel):
    id: str
    name: str
    created_at: datetime


class OrgCreated(Org):
    admin_key: str = Field(description="shown once; only its hash is stored")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="what the key is for, to recognise it in lists (1-100 characters)", min_length=1, max_length=100
    )
    scope: KeyScope = Field(
        default="admin", description="admin: every call of the org; deployment: only predictions of deployment_id"
    )
    deployment_id: ResourceId | None = Field(
        default=None, description="with scope deployment: the one deployment the key may call"
    )
    expires_in_s: int | None = Field(
        default=None, ge=60, le=10 * 365 * 86400, description="the key stops working this long after it is made"
    )

    @model_validator(mode="after")
    def _deployment_matches_scope(self) -> KeyCreate:
        if self.scope == "deployment" and self.deployment_id is None:
            raise ValueError("deployment_id is required when scope is 'deployment'")
        if self.scope == "admin" and self.deployment_id is not None:
            raise ValueError("deployment_id is only allowed when scope is 'deployment'")
        return self


class AdminKeyCreate(BaseModel):
    """An admin key the operator makes for an org (one that has lost or revoked its own)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="what the key is for, to recognise it in lists (1-100 characters)", min_length=1, max_length=100
    )
    expires_in_s: int | None = Field(
        description="the key stops working this long after it is made; default: never",
        default=None,
        ge=60,
        le=10 * 365 * 86400,
    )


class Key(BaseModel):
    id: str
    name: str
    scope: KeyScope
    deployment_id: str | None = None
    prefix: str = Field(description="the key's public start, to recognise it; not a secret")
    created_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None


class KeyCreated(Key):
    key: str = Field(description="shown once; only its hash is stored")
