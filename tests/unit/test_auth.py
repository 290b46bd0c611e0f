"""API keys: parsing API_KEYS, resolving a presented key to its role, and which roles a route allows."""

from __future__ import annotations

import hashlib

import pytest

from shared.auth import DEVELOPMENT_KEYS, ApiKeyConfigError, KeyRing, Role, allowed, parse_api_keys

STRONG = "k" * 16
OTHER_STRONG = "another-strong-key-123"


def sha(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def test_development_keys_with_an_empty_spec_in_development() -> None:
    ring = parse_api_keys("", "development")
    for role in Role:
        assert ring.role_for(f"dev-{role.value}-key") is role
    assert ring.role_for("dev-nobody-key") is None
    assert ring.role_for("") is None
    assert parse_api_keys("   ", "development").role_for("dev-admin-key") is Role.ADMIN


@pytest.mark.parametrize("environment", ["production", "staging", "test"])
def test_empty_spec_outside_development_is_refused(environment: str) -> None:
    with pytest.raises(ApiKeyConfigError):
        parse_api_keys("", environment)


def test_configured_keys_replace_the_development_keys() -> None:
    ring = parse_api_keys(f"catalog:{STRONG}", "development")
    assert ring.role_for(STRONG) is Role.CATALOG
    assert ring.role_for("dev-catalog-key") is None


def test_plain_keys_with_roles() -> None:
    ring = parse_api_keys(f"catalog:{STRONG}, warehouse:{OTHER_STRONG},,", "production")
    assert ring.role_for(STRONG) is Role.CATALOG
    assert ring.role_for(OTHER_STRONG) is Role.WAREHOUSE
    assert ring.role_for(STRONG + "x") is None
    assert ring.role_for(STRONG[:-1]) is None


def test_only_hashes_are_kept() -> None:
    ring = parse_api_keys(f"catalog:{STRONG}", "production")
    assert ring.hashes == ((hashlib.sha256(STRONG.encode()).digest(), Role.CATALOG),)


def test_sha256_keys() -> None:
    secret = "the-real-production-secret"
    ring = parse_api_keys(
        f"backoffice:{sha(secret)},admin:{sha(OTHER_STRONG).upper().replace('SHA256:', 'sha256:')}", "production"
    )
    assert ring.role_for(secret) is Role.BACKOFFICE
    assert ring.role_for(OTHER_STRONG) is Role.ADMIN
    # The hash itself is not a key.
    assert ring.role_for(sha(secret)) is None
    assert ring.role_for(sha(secret).removeprefix("sha256:")) is None


@pytest.mark.parametrize(
    "spec",
    [
        "catalog",  # no separator
        "catalog:",  # no key
        f":{STRONG}",  # no role
        "catalog:sha256:zz" + "0" * 62,  # not hex
        "catalog:sha256:" + "ab" * 31,  # too short
        "catalog:sha256:" + "ab" * 33,  # too long
        "catalog:sha256:",  # empty hash
        ",",  # nothing
        " , , ",
    ],
)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_malformed_entries_are_refused(spec: str, environment: str) -> None:
    with pytest.raises(ApiKeyConfigError):
        parse_api_keys(spec, environment)


@pytest.mark.parametrize("role", ["root", "Catalog", "CATALOG", "guest", ""])
def test_unknown_role_is_refused(role: str) -> None:
    with pytest.raises(ApiKeyConfigError, match="role"):
        parse_api_keys(f"{role}:{STRONG}", "production")


def test_one_bad_entry_refuses_the_whole_spec() -> None:
    with pytest.raises(ApiKeyConfigError):
        parse_api_keys(f"catalog:{STRONG},nobody:{OTHER_STRONG}", "production")


@pytest.mark.parametrize("key", [*DEVELOPMENT_KEYS.values(), "short", "k" * 15])
def test_development_and_short_keys_are_refused_outside_development(key: str) -> None:
    with pytest.raises(ApiKeyConfigError):
        parse_api_keys(f"catalog:{key}", "production")
    # The same keys are fine in development.
    assert parse_api_keys(f"catalog:{key}", "development").role_for(key) is Role.CATALOG


def test_a_key_of_exactly_16_characters_is_accepted_in_production() -> None:
    assert parse_api_keys("catalog:" + "a" * 16, "production").role_for("a" * 16) is Role.CATALOG


def test_hashed_development_keys_are_refused_outside_development() -> None:
    with pytest.raises(ApiKeyConfigError):
        parse_api_keys(f"admin:{sha('dev-admin-key')}", "production")


def test_role_for_on_an_empty_ring() -> None:
    assert KeyRing(()).role_for("anything") is None


def test_admin_is_allowed_everywhere() -> None:
    for required in [frozenset(), frozenset({Role.CATALOG}), frozenset({Role.WAREHOUSE, Role.BACKOFFICE})]:
        assert allowed(Role.ADMIN, required)


def test_other_roles_only_where_required() -> None:
    assert allowed(Role.CATALOG, frozenset({Role.CATALOG}))
    assert allowed(Role.BACKOFFICE, frozenset({Role.WAREHOUSE, Role.BACKOFFICE}))
    assert not allowed(Role.CATALOG, frozenset({Role.WAREHOUSE}))
    assert not allowed(Role.STOREFRONT, frozenset({Role.BACKOFFICE}))
    assert not allowed(Role.WAREHOUSE, frozenset())
