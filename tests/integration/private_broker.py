"""A RabbitMQ node of a test's own, started by the project's own script (infra/services.sh) on free ports with its
own state folder, so that the test may kill it (kill -9) and start it again without touching the broker every other
test uses."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.platform import free_port
from tests.services import ROOT


@dataclass
class PrivateBroker:
    state_dir: Path
    port: int
    dist_port: int
    node: str

    @classmethod
    def at(cls, state_dir: Path) -> PrivateBroker:
        return cls(state_dir, free_port(), free_port(), f"shoptest{secrets.token_hex(3)}@localhost")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STATE_DIR": str(self.state_dir),
            "RABBITMQ_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_NODENAME": self.node,
        }

    async def _services(self, action: str) -> None:
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "infra" / "services.sh"),
            action,
            "rabbitmq",
            env=self._env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 240)
        if process.returncode != 0:
            raise AssertionError(f"infra/services.sh {action} rabbitmq failed:\n{out.decode(errors='replace')}")

    async def start(self) -> None:
        await self._services("start")

    async def stop(self) -> None:
        await self._services("stop")

    @property
    def pid(self) -> int:
        return int((self.state_dir / "run" / "rabbitmq.pid").read_text().strip())

    async def kill(self) -> None:
        """kill -9, and wait until it is gone."""
        pid = self.pid
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"RabbitMQ pid {pid} survived kill -9")
