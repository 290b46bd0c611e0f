"""API keys and roles, shared by both HTTP services.

Keys are configured per deployment as `role:key` pairs (API_KEYS); a key may be given already hashed as
`sha256:<hex>`, which is what an operator should put in production configuration. Only hashes are kept in memory,
and a presented key is hashed and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CATALOG = "catalog"
    WAREHOUSE = "warehouse"
    STOREFRONT = "storefront"
    BACKOFFICE = "backoffice"
    ADMIN = "admin"


# Development keys: only ever used when ENVIRONMENT=development and API_KEYS is empty.
DEVELOPMENT_KEYS: dict[Role, str] = {role: f"dev-{role.value}-key" for role in Role}


_DEVELOPMENT_DIGESTS = {hashlib.sha256(key.encode()).digest() for key in DEVELOPMENT_KEYS.values()}


class ApiKeyConfigError(ValueError):
    """API_KEYS is malformed, or missing / a placeholder outside development."""


@dataclass(frozen=True)
class KeyRing:
    hashes: tuple[tuple[bytes, Role], ...]

    def role_for(self, presented: str) -> Role | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found: Role | None = None
        for known, role in self.hashes:
            if hmac.compare_digest(known, digest):
                found = role
        return found


def parse_api_keys(spec: str, environment: str) -> KeyRing:
    pairs: list[tuple[bytes, Role]] = []
    if not spec.strip():
        if environment != "development":
            raise ApiKeyConfigError("API_KEYS must be set outside development (comma-separated role:key pairs)")
        return KeyRing(tuple((hashlib.sha256(k.encode()).digest(), r) for r, k in DEVELOPMENT_KEYS.items()))
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        role_name, sep, key = item.partition(":")
        key = key.strip()
        if not sep or not key:
            raise ApiKeyConfigError(f"API_KEYS entry {role_name!r} is not of the form role:key")
        try:
            role = Role(role_name.strip())
        except ValueError:
            raise ApiKeyConfigError(
                f"API_KEYS names unknown role {role_name!r}; roles are {', '.join(r.value for r in Role)}"
            ) from None
        if key.startswith("sha256:"):
            try:
                digest = bytes.fromhex(key.removeprefix("sha256:"))
            except ValueError:
                raise ApiKeyConfigError(f"API_KEYS entry for {role.value} has a malformed sha256 hex") from None
            if len(digest) != 32:
                raise ApiKeyConfigError(f"API_KEYS entry for {role.value} must be 64 hex digits after sha256:")
            if environment != "development" and digest in _DEVELOPMENT_DIGESTS:
                raise ApiKeyConfigError(f"API_KEYS entry for {role.value} is the hash of a development key")
        else:
            if environment != "development" and (key in DEVELOPMENT_KEYS.values() or len(key) < 16):
                raise ApiKeyConfigError(
                    f"API_KEYS entry for {role.value} is a development key or shorter than 16 characters"
                )
            digest = hashlib.sha256(key.encode()).digest()
        pairs.append((digest, role))
    if not pairs:
        raise ApiKeyConfigError("API_KEYS holds no keys")
    return KeyRing(tuple(pairs))


def allowed(role: Role, required: frozenset[Role]) -> bool:
    return role is Role.ADMIN or role in required
