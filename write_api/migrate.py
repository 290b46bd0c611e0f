"""Apply the numbered SQL migrations of infra/postgres/ in order, each once, recorded in schema_migrations.

python -m write_api.migrate            # apply what is missing
python -m write_api.migrate --status   # list applied and pending migrations
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from pathlib import Path

import asyncpg

from shared.config import PostgresSettings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "infra" / "postgres"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Serialises concurrent runners (several write API replicas starting at once).
_LOCK_KEY = 0x5348_4F50_4D49_4752  # "SHOPMIGR"


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append((int(match.group(1)), path))
    numbers = [n for n, _ in found]
    if len(set(numbers)) != len(numbers):
        raise ValueError("two migrations share a number")
    return found


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    applied_now: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for number, path in discover(directory):
            if number in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", number, path.name)
            log.info("applied migration %s", path.name)
            applied_now.append(path.name)
    finally:
        await conn.close()
    return applied_now


async def status(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[tuple[str, bool]]:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")} if exists else set()
    finally:
        await conn.close()
    return [(path.name, number in done) for number, path in discover(directory)]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m write_api.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--status", action="store_true", help="list migrations and whether they are applied")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    dsn = PostgresSettings().database_url
    if args.status:
        for name, applied in asyncio.run(status(dsn)):
            print(f"{'applied' if applied else 'pending'}  {name}")  # noqa: T201 - a CLI's output
    else:
        applied_now = asyncio.run(migrate(dsn))
        log.info("%d migration(s) applied", len(applied_now))


if __name__ == "__main__":
    main()
