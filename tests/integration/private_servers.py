"""Servers of a test's own -- PostgreSQL, RabbitMQ, Elasticsearch -- started by the project's own script
(infra/services.sh) with their own state folder and free ports, so that a test may kill them (kill -9), freeze them
(SIGSTOP) and start them again without touching the servers every other test uses."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from tests.platform import free_port
from tests.services import ROOT


def free_port_pair(offset: int) -> int:
    """A free port whose neighbour `offset` above is free too (Elasticsearch's transport port: HTTP port + 100)."""
    while True:
        port = free_port()
        if port + offset < 65536:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + offset))
                return port
            except OSError:
                continue


@dataclass
class PrivateServer:
    service: str  # infra/services.sh's name: postgres, rabbitmq, elasticsearch
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    async def _services(self, action: str) -> None:
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "infra" / "services.sh"),
            action,
            self.service,
            env={**os.environ, "STATE_DIR": str(self.state_dir), "PIPELINE_NICE": "0", **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 300)
        if process.returncode != 0:
            raise AssertionError(f"infra/services.sh {action} {self.service} failed:\n{out.decode(errors='replace')}")

    async def start(self, attempts: int = 5) -> None:
        """Start it (again), and wait until it answers. A PostgreSQL killed with -9 leaves backends that take a moment
        to notice and go, and it refuses to start before: so start is tried a few times."""
        for attempt in range(attempts):
            try:
                await self._services("start")
                return
            except AssertionError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(2)

    async def stop(self) -> None:
        await self._services("stop")

    @property
    def pid(self) -> int:
        return int((self.state_dir / "run" / f"{self.service}.pid").read_text().strip())

    async def kill(self) -> None:
        """kill -9, and wait until it is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        for _ in range(400):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.service} pid {pid} survived kill -9")

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


class PrivatePostgres(PrivateServer):
    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        super().__init__("postgres", state_dir, {"PG_PORT": str(self.port), "PG_SHARED_BUFFERS": "64MB"})

    @property
    def url(self) -> str:
        return f"postgresql://shop:shop@127.0.0.1:{self.port}/shop"


class PrivateElasticsearch(PrivateServer):
    def __init__(self, state_dir: Path) -> None:
        self.port = free_port_pair(100)
        super().__init__("elasticsearch", state_dir, {"ES_PORT": str(self.port), "ES_HEAP": "512m"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class PrivateRabbit(PrivateServer):
    def __init__(self, state_dir: Path) -> None:
        self.port, dist = free_port(), free_port()
        node = f"shoptest{secrets.token_hex(3)}@localhost"
        env = {"RABBITMQ_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(dist), "RABBITMQ_NODENAME": node}
        super().__init__("rabbitmq", state_dir, env)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"
