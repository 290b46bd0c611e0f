"""One logging setup for every process: on stderr, level from LOG_LEVEL, format from LOG_FORMAT.

`plain` (the default) writes a line of text per record. `json` writes one JSON object per line: `time` (RFC 3339,
UTC), `level`, `logger`, `message`, whatever the call passed as `extra` (`correlation_id`, `command_id`,
`position`...), and `exception` with the traceback. A command's correlation id appears in the write API's line for
the command, the relay's line for the batch that published it and the projector's line for the batch that applied
it, so `grep <id>` follows a command to the index (README, Operations).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

HANDLER_NAME = "shop"
PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record came from the call's `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_logging(level: str = "INFO", log_format: str = "plain") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    # Replaces the handler of an earlier call (an app made twice in one process), and leaves others alone (pytest's).
    root.handlers[:] = [h for h in root.handlers if h.get_name() != HANDLER_NAME] + [handler]
    root.setLevel(level.upper())
    # uvicorn's own loggers write through their own handlers: in JSON they write through ours.
    if log_format == "json":
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers[:] = []
            uvicorn_logger.propagate = True
    # One line per HTTP request to Elasticsearch is noise at INFO.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
