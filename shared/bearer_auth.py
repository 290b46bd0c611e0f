"""The API-key check of both APIs: the caller's role from `Authorization: Bearer <key>`, or 401/403."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from shared.auth import KeyRing, Role, allowed
from shared.http_errors import ApiError

BEARER_SCHEME = "ApiKey"  # the OpenAPI security scheme of the API keys


class RoleKey(HTTPBearer):
    """The caller's role from its bearer API key, or 401/403; the key ring lives in `app.state.keyring`.

    A security dependency that reads the header itself: OpenAPI shows the bearer scheme on every route that needs
    it, and FastAPI has no header parameter to validate per request."""

    def __init__(self, roles: frozenset[Role]) -> None:
        description = "API key: Authorization: Bearer <key>"
        super().__init__(scheme_name=BEARER_SCHEME, description=description, auto_error=False)
        self.roles = roles

    async def __call__(self, request: Request) -> Role:  # type: ignore[override]
        return self.role(request)

    def role(self, request: Request) -> Role:
        """The check itself, for routes that are not FastAPI's (the write API's command routes)."""
        keyring: KeyRing = request.app.state.keyring
        return authorize(keyring, request.headers.get("authorization"), self.roles)


def require_role(*roles: Role) -> Any:
    """A dependency that answers the caller's role, or 401/403."""
    return Depends(RoleKey(frozenset(roles)))


def authorize(keyring: KeyRing, authorization: str | None, required: frozenset[Role]) -> Role:
    """Role of the bearer key, or 401 (no or unknown key) / 403 (a key whose role may not do this)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    role = keyring.role_for(authorization[7:].strip())
    if role is None:
        raise ApiError(401, "unauthorized", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    if not allowed(role, required):
        raise ApiError(
            403, "forbidden", f"role {role.value} may not do this", {"required": sorted(r.value for r in required)}
        )
    return role
