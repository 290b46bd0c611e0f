"""LOG_FORMAT=json on the real processes: every line of the write API's, the relay's and the projector's logs is one
JSON object, and a command's correlation id (X-Correlation-Id) is found with one grep in all three: the command (at
DEBUG), the batch that published it and the batch that applied it (at INFO)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.stack import NewStack
from tests.integration.write_conftest_helpers import auth, order_body, product_body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def json_lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text(errors="replace")
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise AssertionError(f"{path.name}: a line that is not one JSON object: {line!r}") from exc
    assert parsed, f"{path.name} is empty"
    return parsed


async def test_one_grep_follows_a_command_from_the_write_api_to_the_index(new_stack: NewStack) -> None:
    stack = await new_stack("jsonlogs")
    stack.platform.env["LOG_FORMAT"] = "json"
    await stack.start("projector", "relay")
    # The write API logs each command at DEBUG (a line per request costs it CPU); the others' batch lines are INFO.
    await asyncio.to_thread(stack.platform.start, "write_api", True, LOG_LEVEL="DEBUG")
    sku, correlation = f"J-{secrets.token_hex(3)}", f"checkout-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=stack.platform.write_url, timeout=30) as http:
        for path, role, body in (
            ("/products", "catalog", product_body(sku)),
            (f"/inventory/{sku}/receipts", "warehouse", {"warehouse": "ams", "quantity": 5}),
        ):
            assert (await http.post(path, json=body, headers=auth(role))).status_code in (200, 201)
        placed = await http.post(
            "/orders", json=order_body([(sku, 2)]), headers={**auth("storefront"), "X-Correlation-Id": correlation}
        )
        assert placed.status_code == 201, placed.text
        assert placed.headers["X-Correlation-Id"] == correlation
        refused = await http.post(
            "/orders", json=order_body([(sku, 1)]), headers={**auth("storefront"), "X-Correlation-Id": "a b"}
        )
        assert refused.status_code == 400, refused.text
    await stack.wait_drained(int(placed.json()["position"]), within=60)

    logs = stack.platform.log_dir
    found = {
        name: [line for line in json_lines(logs / f"{name}.log") if correlation in orjson.dumps(line).decode()]
        for name in ("write_api", "relay", "projector")
    }
    [command] = found["write_api"]
    assert command["level"] == "DEBUG"
    assert command["correlation_id"] == correlation and command["command"] == "PlaceOrder"
    assert command["position"] == placed.json()["position"]
    [published] = found["relay"]
    assert correlation in published["correlation_ids"]  # type: ignore[operator]
    assert placed.json()["position"] in published["transactions"]  # type: ignore[operator]
    applied = found["projector"]  # the order and the inventory projections each applied it
    assert {line["projection"] for line in applied} >= {"orders", "inventory"}, applied
    assert all(line["level"] == "INFO" for name in ("relay", "projector") for line in found[name])
