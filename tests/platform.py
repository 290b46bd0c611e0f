"""Runs the platform's four real processes for a test, against the session's namespace of the real services."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.services import ROOT

KEYS = {role: f"dev-{role}-key" for role in ("catalog", "warehouse", "storefront", "backoffice", "admin")}


# The read side's processes run at a higher CPU priority, as infra/platform.sh starts them (see infra/env.sh): the
# pipeline, and the search API, which answers shoppers and must not wait behind a burst of writes.
PIPELINE = frozenset({"relay", "projector", "search_api"})


def pipeline_nice() -> int:
    """PIPELINE_NICE (default -10) as it applies here: negative values only as root, as in infra/env.sh."""
    raw = os.environ.get("PIPELINE_NICE", "-10")
    try:
        nice = int(raw)
    except ValueError:
        nice = 99
    if not -20 <= nice <= 19:
        raise ValueError(f"PIPELINE_NICE must be a whole number from -20 to 19, not {raw!r}")
    return 0 if nice < 0 and os.geteuid() != 0 else nice


def priority_setter(nice: int) -> Callable[[], None] | None:
    """What the child runs after setsid: the nice for the process and for its session's autogroup, which is what
    the kernel's autogroup scheduling weighs between sessions."""
    if nice == 0:
        return None

    def set_priority() -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(nice))

    return set_priority


def kind_of(name: str) -> str:
    """`projector2` -> `projector`: further processes of a kind are numbered."""
    return name.rstrip("0123456789")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Platform:
    env: dict[str, str]
    log_dir: Path
    ports: dict[str, int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def write_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['write_api']}"

    @property
    def search_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['search_api']}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def command(self, name: str) -> list[str]:
        py = sys.executable
        return {
            "write_api": [
                py,
                "-m",
                "uvicorn",
                "write_api.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports["write_api"]),
                "--no-access-log",
            ],
            "relay": [py, "-m", "write_api.relay"],
            "projector": [py, "-m", "projector", "run"],
            "search_api": [
                py,
                "-m",
                "uvicorn",
                "search_api.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports["search_api"]),
                "--no-access-log",
            ],
        }[kind_of(name)]

    def start(self, name: str, wait: bool = True, **extra_env: str) -> None:
        """Start a process by name: `write_api`, `relay`, `projector`, `search_api`, or a further one of a kind with a
        number after it (`projector2`, on its own port from `ports`)."""
        log = (self.log_dir / f"{name}.log").open("ab")
        own = {"PROJECTOR_PORT": str(self.ports[name])} if kind_of(name) == "projector" else {}
        own |= {"RELAY_PORT": str(self.ports[name])} if kind_of(name) == "relay" else {}
        self.processes[name] = subprocess.Popen(
            self.command(name),
            cwd=ROOT,
            env={**self.env, **own, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=priority_setter(pipeline_nice()) if kind_of(name) in PIPELINE else None,  # noqa: PLW1509
        )
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")
            try:
                if httpx.get(f"{self.url(name)}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout} s:\n{self.tail(name)}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def platform_env(
    database_url: str,
    rabbitmq_url: str,
    rabbitmq_prefix: str,
    elasticsearch_url: str,
    elasticsearch_prefix: str,
    ports: dict[str, int],
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_KEYS", "DATABASE_", "RABBITMQ_", "ELASTIC"))}
    env.update(
        {
            "ENVIRONMENT": "development",
            "API_KEYS": "",
            "LOG_LEVEL": "INFO",
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "RABBITMQ_PREFIX": rabbitmq_prefix,
            "ELASTICSEARCH_URL": elasticsearch_url,
            "ELASTICSEARCH_PREFIX": elasticsearch_prefix,
            "RELAY_PORT": str(ports["relay"]),
            "PROJECTOR_PORT": str(ports["projector"]),
            "PYTHONPATH": str(ROOT),
            # The console: the search API's page sends commands to this write API, which allows its origin; its
            # status route reaches the other processes here.
            "CORS_ORIGINS": f"http://127.0.0.1:{ports['search_api']}",
            "WRITE_API_PUBLIC_URL": f"http://127.0.0.1:{ports['write_api']}",
            "WRITE_API_URL": f"http://127.0.0.1:{ports['write_api']}",
            "RELAY_OPS_URL": f"http://127.0.0.1:{ports['relay']}",
            "PROJECTOR_OPS_URL": f"http://127.0.0.1:{ports['projector']}",
        }
    )
    return env


async def projector_cli(platform: Platform, *args: str, within: float = 120) -> tuple[int, str, str]:
    """`python -m projector <args>` with the platform's settings: (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "projector",
        *args,
        cwd=ROOT,
        env=platform.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
