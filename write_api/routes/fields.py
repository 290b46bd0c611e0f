"""Request field types the write routes share."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.events.payloads import Money

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"

# Request models strip surrounding whitespace (pydantic's `str_strip_whitespace`, which trims what Unicode calls
# White_Space), so a text of spaces alone is empty, and refuse text holding NUL (PostgreSQL cannot store it). The
# OpenAPI schema says both as patterns (documentation only: the models check): "no NUL", and "no NUL, and a
# character that is not such whitespace", with the characters named so that every regular-expression dialect reads
# them alike.
NO_NUL = r"^[^\u0000]*$"
_BLANK = r"\u0000\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = rf"^[^\u0000]*[^{_BLANK}][^\u0000]*$"


def text(max_length: int) -> Any:
    """A text field of 1..max_length characters once stripped (`Annotated[str, text(200)]`)."""
    return Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": NOT_BLANK})


def optional_text(max_length: int) -> Any:
    """A text field of at most max_length characters that may be empty, or null (`... = optional_text(1000)`)."""
    return Field(default=None, max_length=max_length, json_schema_extra={"pattern": NO_NUL})


def _whole(value: Any) -> Any:
    # JSON does not tell 1 from 1.0, nor does JSON Schema's "integer": a number with no fraction is a whole number.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# After the constraints (`Annotated[int, Field(gt=0), WHOLE]`), so that OpenAPI shows them as JSON Schema's own.
WHOLE = BeforeValidator(_whole)
WarehouseId = Annotated[str, Field(pattern=ID_PATTERN)]
Quantity = Annotated[int, Field(gt=0, le=1_000_000, strict=True), WHOLE]


def _no_nul(value: Any, path: str = "") -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{path or 'a text field'} must not contain the NUL character")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key, path)
            _no_nul(item, f"{path}.{key}" if path else str(key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            _no_nul(item, f"{path}.{index}" if path else str(index))


NUL_FREE = "nul_free"


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are refused, and so is text PostgreSQL cannot store (NUL)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context is not None and info.context.get(NUL_FREE):
            return data  # parse_json_body found no \u0000 in the raw JSON: no string in it holds a NUL
        # This runs for every nested model too: one C-speed serialisation says whether there is anything to look
        # for (orjson writes NUL as \u0000; the rare text that spells out "\u0000" is walked for nothing, and so is
        # what orjson cannot write, such as an integer beyond 64 bits).
        try:
            suspect = b"\\u0000" in orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            suspect = True
        if suspect:
            _no_nul(data)
        return data


AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_AMOUNT_TEXT = re.compile(AMOUNT_PATTERN)


def _amount_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema["anyOf"] = [
        {"type": "string", "pattern": AMOUNT_PATTERN},
        {"type": "number", "minimum": 0, "maximum": 999_999_999_999.99, "multipleOf": 0.01},
    ]
    schema["description"] = 'at most two decimal places, as a string (`"9.90"`) or a JSON number'


class MoneyIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(
        ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False, json_schema_extra=_amount_schema
    )
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @field_validator("amount", mode="before")
    @classmethod
    def _plain_decimal(cls, amount: Any) -> Any:
        # pydantic reads "1e2", " 5" and ".5" as decimals too; the contract's amount is plain digits.
        if isinstance(amount, str) and not _AMOUNT_TEXT.match(amount):
            raise ValueError(f"must match {AMOUNT_PATTERN}")
        return amount

    def to_money(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)


M = TypeVar("M", bound=BaseModel)


def parse_json_body(model: type[M], body: bytes) -> M:
    """The body as `model`, parsed and validated in one pass by pydantic's JSON parser. A body parameter has FastAPI
    decode it with the standard json module and validate the objects after, a measurable share of an order's CPU.
    Errors go the way FastAPI's do, to the same envelope: 400 for what is not JSON, 422 for an empty body or
    invalid fields (whose messages are pydantic's own)."""
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    # JSON can only write NUL as \u0000 (a raw control character is invalid): without one, no text holds a NUL and
    # the models' own check, which runs once per nested model, can stand down.
    context = {NUL_FREE: b"\\u0000" not in body}
    try:
        return model.model_validate_json(body, context=context)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from exc
