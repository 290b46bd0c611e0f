"""What bad input and lost dependencies are answered with, in pure code: order dates out of range, a stream version
past 64 bits, amounts and whole numbers as the schema writes them, blank text as the schema says it, the connection
pool after a server restart, and which driver errors are a 503."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from search_api.routes.orders import placed_bound
from shared.http_errors import ApiError
from write_api.event_store.connections import ConnectionPool, ends_session
from write_api.main import DATABASE_UNAVAILABLE
from write_api.routes.command_route import parse_if_match
from write_api.routes.fields import NOT_BLANK, MoneyIn
from write_api.routes.inventory import AdjustmentIn, ThresholdIn
from write_api.routes.orders import CustomerIn


def test_order_dates_are_compared_in_utc_with_four_digit_years() -> None:
    east = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert placed_bound("placed_from", east) == "2025-12-31T23:00:00.000000Z"
    assert placed_bound("placed_from", datetime(304, 6, 2, 5, 37, 18, tzinfo=UTC)) == "0304-06-02T05:37:18.000000Z"
    assert placed_bound("placed_to", None) is None


@pytest.mark.parametrize(
    "value",
    [
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),  # past year 9999 in UTC
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),  # before year 1 in UTC
    ],
)
def test_an_order_date_out_of_range_in_utc_is_a_422(value: datetime) -> None:
    with pytest.raises(ApiError) as refused:
        placed_bound("placed_to", value)
    assert refused.value.status == 422 and "placed_to" in refused.value.details["fields"]


def test_if_match_takes_a_64_bit_version_and_refuses_more() -> None:
    assert parse_if_match('W/"17"') == 17
    assert parse_if_match("9" * 18) == int("9" * 18)
    with pytest.raises(ApiError) as refused:
        parse_if_match('"088378972648509973951624890901551"')  # its 404 once failed to render: a 500
    assert refused.value.status == 400


@pytest.mark.parametrize("amount", ["12.5", "0", "999999999999.99", 12.5, 7, 0.07])
def test_amounts_as_the_schema_writes_them_are_taken(amount: Any) -> None:
    assert MoneyIn.model_validate({"amount": amount, "currency": "EUR"}).amount >= 0


@pytest.mark.parametrize("amount", ["1e2", ".5", " 5", "+1", "1.234", 1.234, "1000000000000"])
def test_amounts_the_schema_refuses_are_refused(amount: Any) -> None:
    with pytest.raises(ValidationError):
        MoneyIn.model_validate({"amount": amount, "currency": "EUR"})


def test_whole_numbers_written_with_a_point_are_whole_numbers() -> None:
    assert ThresholdIn.model_validate_json('{"low_stock_threshold": 3.0}').low_stock_threshold == 3
    assert AdjustmentIn.model_validate_json('{"warehouse": "a", "delta": -2.0, "reason": "lost"}').delta == -2
    for bad in ('{"low_stock_threshold": 3.5}', '{"low_stock_threshold": "3"}', '{"low_stock_threshold": true}'):
        with pytest.raises(ValidationError):
            ThresholdIn.model_validate_json(bad)
    with pytest.raises(ValidationError):
        AdjustmentIn.model_validate_json('{"warehouse": "a", "delta": 0, "reason": "lost"}')  # the schema says not 0


@pytest.mark.parametrize("name", [" ", "\t\n", "\u3000\u00a0", "a", " a ", "\x1f", "\u0085x", "x\x00"])
def test_blank_text_is_refused_exactly_where_the_schema_says(name: str) -> None:
    documented = re.match(NOT_BLANK, name) is not None
    customer = {"id": "c1", "name": name, "email": "a@example.com"}
    try:
        CustomerIn.model_validate(customer)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == documented, (name, accepted, documented)


class FakeConnection:
    def __init__(self, closed: bool = False) -> None:
        self.closed = closed
        self.terminated = False

    def is_closed(self) -> bool:
        return self.closed

    def is_in_transaction(self) -> bool:
        return False

    def terminate(self) -> None:
        self.terminated = True


async def test_the_pool_drops_connections_the_server_closed_while_idle() -> None:
    made: list[FakeConnection] = []

    async def connect() -> Any:
        made.append(FakeConnection())
        return made[-1]

    pool = ConnectionPool(connect, size=3)
    await pool.open(2)
    for idle in made:
        idle.closed = True  # PostgreSQL restarted
    async with pool.acquire() as lent:
        assert id(lent) == id(made[2])  # a new connection, not one that would fail the statement
    assert [c.terminated for c in made] == [True, True, False] and pool.opened == 1


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.AdminShutdownError,  # 57P01: the server shuts down, or its postmaster was killed
        asyncpg.CrashShutdownError,  # 57P02: another backend crashed
        asyncpg.CannotConnectNowError,  # 57P03: starting up
        asyncpg.TooManyConnectionsError,
        asyncpg.ConnectionDoesNotExistError,
        ConnectionResetError,
    ],
)
def test_a_server_going_or_coming_back_is_a_503(error: type[Exception]) -> None:
    assert issubclass(error, DATABASE_UNAVAILABLE)


def test_a_bad_statement_is_not_a_503() -> None:
    assert not issubclass(asyncpg.UndefinedColumnError, DATABASE_UNAVAILABLE)


async def test_a_connection_whose_session_the_server_ended_is_not_lent_again() -> None:
    made: list[FakeConnection] = []

    async def connect() -> Any:
        made.append(FakeConnection())
        return made[-1]

    pool = ConnectionPool(connect, size=2)
    for error in (asyncpg.AdminShutdownError("terminating connection"), asyncpg.UniqueViolationError("dup")):
        with pytest.raises(type(error)):
            async with pool.acquire():
                raise error
    # The first connection met the server going (57P01): gone, though its socket had not said so yet. The second
    # met an ordinary statement error: kept for the next statement.
    assert [c.terminated for c in made] == [True, False]
    async with pool.acquire() as lent:
        assert id(lent) == id(made[1])


def test_a_fatal_error_ends_the_session_whatever_its_class() -> None:
    io_error = asyncpg.exceptions.PostgresIOError("could not write")
    io_error.severity = "FATAL"
    plain = asyncpg.exceptions.PostgresIOError("could not write")
    plain.severity = "ERROR"
    assert ends_session(io_error) and not ends_session(plain)
    assert ends_session(asyncpg.AdminShutdownError("bye")) and not ends_session(asyncpg.UniqueViolationError("dup"))


async def test_a_statement_refused_on_a_busy_connection_is_sent_again_on_another() -> None:
    made: list[FakeConnection] = []

    async def connect() -> Any:
        made.append(FakeConnection())
        return made[-1]

    async def statement(conn: Any, query: str) -> str:
        if conn is made[0]:
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation is in progress")
        return f"{query} on connection {made.index(conn)}"

    pool = ConnectionPool(connect, size=2)
    assert await pool._run(statement, "SELECT 1", ()) == "SELECT 1 on connection 1"
    assert made[0].terminated and not made[1].terminated
