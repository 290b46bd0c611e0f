"""The API keys the demo loaders send: those the platform was started with.

The platform reads `API_KEYS` (comma-separated `role:key` pairs, see shared/auth.py); the loaders read the same
variable and send, for each role they need, its plain key, or the admin role's (admin may do everything). With
`API_KEYS` empty the platform accepts the development keys, and so the loaders send those. A key given only as its
hash cannot be sent: the loader stops, saying in one line what `API_KEYS` must hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.auth import DEVELOPMENT_KEYS, Role


class MissingKey(RuntimeError):
    """API_KEYS holds no plain key the loader may send for a role it needs."""


def demo_keys(environ: Mapping[str, str], roles: Iterable[Role]) -> dict[Role, str]:
    """A key for each of `roles`, from `API_KEYS` in `environ`; raises MissingKey naming the first role without."""
    spec = environ.get("API_KEYS", "")
    if not spec.strip():
        return {role: DEVELOPMENT_KEYS[role] for role in roles}
    plain: dict[Role, str] = {}
    for item in spec.split(","):
        name, _, key = item.strip().partition(":")
        key = key.strip()
        if key and not key.startswith("sha256:") and name.strip() in Role.__members__.values():
            plain.setdefault(Role(name.strip()), key)
    keys: dict[Role, str] = {}
    for role in roles:
        found = plain.get(role, plain.get(Role.ADMIN))
        if found is None:
            raise MissingKey(
                f"the demo loader needs a plain key of role {role.value} (or admin) in API_KEYS, as {role.value}:<key>"
                " (hashed keys cannot be sent)"
            )
        keys[role] = found
    return keys
