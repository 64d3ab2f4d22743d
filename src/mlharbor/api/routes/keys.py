"""API keys: create (the secret is shown once), list, revoke. Admin only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mlharbor.api.auth import NEEDS_ADMIN
from mlharbor.api.deps import HubDep
from mlharbor.api.params import IdPath
from mlharbor.api.schemas import Problem
from mlharbor.keys import KeyInfo, Scope

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], dependencies=NEEDS_ADMIN)
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    422: {"model": Problem},
}


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    scopes: list[Scope] = Field(min_length=1)


class KeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: KeyInfo) -> KeyPublic:
        return cls(**k.__dict__)


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret token. It is shown only this once.")


class KeysPublic(BaseModel):
    data: list[KeyPublic]
    count: int


@router.post("", response_model=KeyCreated, status_code=201, responses=ERRORS)
def create_key(hub: HubDep, body: KeyCreate) -> KeyCreated:
    """Create an API key; its secret is in the answer and nowhere else."""
    info, token = hub.keys.create(body.name, [s.value for s in body.scopes])
    return KeyCreated(**KeyPublic.of(info).model_dump(), key=token)


@router.get("", response_model=KeysPublic, responses=ERRORS)
def list_keys(hub: HubDep) -> KeysPublic:
    """List API keys (never their secrets)."""
    keys = hub.keys.list()
    return KeysPublic(data=[KeyPublic.of(k) for k in keys], count=len(keys))


@router.delete("/{key_id}", response_model=KeyPublic, responses={**ERRORS, 404: {"model": Problem}})
def revoke_key(hub: HubDep, key_id: IdPath) -> KeyPublic:
    """Revoke an API key."""
    return KeyPublic.of(hub.keys.revoke(key_id))
