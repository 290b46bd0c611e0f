"""LOG_FORMAT=json: one JSON object per line, with the call's extra fields (the correlation id) and the traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from shared.logging import HANDLER_NAME, configure_logging


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """JSON logs on stderr as capsys sees it; the logging setup as it was afterwards. The handler is made when the
    test first logs (`started`), when capsys has replaced stderr."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield capsys
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def started() -> None:
    configure_logging("INFO", "json")


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_one_object_per_line_with_the_correlation_id(json_logs: pytest.CaptureFixture[str]) -> None:
    started()
    log = logging.getLogger("write_api.command_runner")
    log.info("PlaceOrder applied at position %s", 42, extra={"correlation_id": "order-7", "position": 42})
    log.debug("not at INFO")
    log.warning("two\nlines in one message")
    [applied, warning] = lines(json_logs)
    assert applied["message"] == "PlaceOrder applied at position 42"
    assert applied["correlation_id"] == "order-7" and applied["position"] == 42
    assert applied["level"] == "INFO" and applied["logger"] == "write_api.command_runner"
    assert str(applied["time"]).endswith("+00:00")
    assert warning["message"] == "two\nlines in one message"  # still one line of output


def test_a_traceback_stays_inside_its_object(json_logs: pytest.CaptureFixture[str]) -> None:
    started()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("projector").exception("batch failed", extra={"correlation_ids": ["a", "b"]})
    [failed] = lines(json_logs)
    assert failed["correlation_ids"] == ["a", "b"]
    assert "ValueError: boom" in str(failed["exception"])


def test_uvicorn_writes_through_the_same_handler(json_logs: pytest.CaptureFixture[str]) -> None:
    started()
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    [line] = lines(json_logs)
    assert line["logger"] == "uvicorn.error"


def test_a_second_setup_replaces_its_handler_and_keeps_others() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        configure_logging("INFO", "plain")
        configure_logging("INFO", "json")
        ours = [h for h in root.handlers if h.get_name() == HANDLER_NAME]
        assert len(ours) == 1
        assert [h for h in root.handlers if h.get_name() != HANDLER_NAME] == [
            h for h in before if h.get_name() != HANDLER_NAME
        ]
    finally:
        root.handlers[:] = before
