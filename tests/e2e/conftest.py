from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Namespace
from tests.platform import Platform, free_port, platform_env


@pytest.fixture(scope="session")
def platform(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The four processes, started once for the e2e session, on free ports."""
    ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
    env = platform_env(
        namespace.database_url,
        namespace.rabbitmq_url,
        namespace.rabbitmq_prefix,
        namespace.elasticsearch_url,
        namespace.elasticsearch_prefix,
        ports,
    )
    log_dir: Path = tmp_path_factory.mktemp("platform-logs")
    running = Platform(env, log_dir, ports)
    try:
        for name in ("projector", "relay", "write_api", "search_api"):
            running.start(name)
        yield running
    finally:
        running.stop_all()
