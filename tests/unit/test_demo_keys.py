"""The demo loaders' keys: those the platform was started with (API_KEYS), or one line saying what is missing."""

from __future__ import annotations

import pytest

from infra.demo.api_keys import MissingKey, demo_keys
from shared.auth import DEVELOPMENT_KEYS, Role

ROLES = (Role.CATALOG, Role.WAREHOUSE, Role.STOREFRONT, Role.BACKOFFICE)


def test_without_api_keys_the_development_keys() -> None:
    assert demo_keys({}, ROLES) == {role: DEVELOPMENT_KEYS[role] for role in ROLES}
    assert demo_keys({"API_KEYS": "  "}, [Role.CATALOG]) == {Role.CATALOG: "dev-catalog-key"}


def test_the_plain_keys_of_api_keys_per_role() -> None:
    spec = " catalog:cat-key-0123456789ab , warehouse:wh-key-0123456789ab,storefront:sf-key-0123456789ab,"
    spec += "backoffice:bo-key-0123456789ab"
    assert demo_keys({"API_KEYS": spec}, ROLES) == {
        Role.CATALOG: "cat-key-0123456789ab",
        Role.WAREHOUSE: "wh-key-0123456789ab",
        Role.STOREFRONT: "sf-key-0123456789ab",
        Role.BACKOFFICE: "bo-key-0123456789ab",
    }


def test_the_admin_key_stands_in_for_a_role_without_one() -> None:
    keys = demo_keys({"API_KEYS": "admin:admin-key-0123456789,catalog:cat-key-0123456789ab"}, ROLES)
    assert keys[Role.CATALOG] == "cat-key-0123456789ab"
    assert keys[Role.WAREHOUSE] == keys[Role.STOREFRONT] == keys[Role.BACKOFFICE] == "admin-key-0123456789"


def test_a_hashed_or_missing_key_is_named_in_one_line() -> None:
    hashed = "catalog:sha256:" + "ab" * 32 + ",warehouse:wh-key-0123456789ab"
    with pytest.raises(MissingKey) as raised:
        demo_keys({"API_KEYS": hashed}, ROLES)
    message = str(raised.value)
    assert "\n" not in message
    assert "API_KEYS" in message and "catalog:<key>" in message
    with pytest.raises(MissingKey, match="storefront"):
        demo_keys({"API_KEYS": "catalog:cat-key-0123456789ab"}, [Role.CATALOG, Role.STOREFRONT])
