"""One logging setup for every process: plain lines on stderr, level from LOG_LEVEL."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request to Elasticsearch is noise at INFO.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
