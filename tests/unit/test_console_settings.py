"""The write API's CORS origins, and the export's guard against formulas in CSV cells."""

from __future__ import annotations

import pytest

from search_api.routes.order_export import _cell
from write_api.settings import WriteApiSettings


def test_development_allows_the_search_apis_own_origin_by_default() -> None:
    settings = WriteApiSettings(environment="development", cors_origins="")
    assert settings.allowed_origins() == ["http://127.0.0.1:8002", "http://localhost:8002"]


def test_outside_development_no_origin_is_allowed_unless_named() -> None:
    assert WriteApiSettings(environment="production", cors_origins="", api_keys="admin:x" * 3).allowed_origins() == []
    named = WriteApiSettings(
        environment="production", cors_origins=" https://console.example.com/ , https://b.example "
    )
    assert named.allowed_origins() == ["https://console.example.com", "https://b.example"]


def test_named_origins_replace_the_development_default() -> None:
    settings = WriteApiSettings(environment="development", cors_origins="http://127.0.0.1:9002")
    assert settings.allowed_origins() == ["http://127.0.0.1:9002"]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("Ada Lovelace", "Ada Lovelace"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+31 20 555", "'+31 20 555"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        (None, ""),
        (3, "3"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(value: object, cell: str) -> None:
    assert _cell(value) == cell
