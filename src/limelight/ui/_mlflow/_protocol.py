"""What every MLflow REST handler shares: errors in MLflow's format, request fields, auth.

An error is ``{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": ...}`` with the HTTP status
MLflow's own server gives that code. A request's fields come from its JSON body (POST, PATCH,
DELETE) or its query string (GET); :class:`Fields` reads them with MLflow's rules and names the
field that is missing or of the wrong type.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from limelight.core.errors import InvalidInputError, LimelightError, NotFoundError
from limelight.store import Store

__all__ = [
    "STATUS",
    "Fields",
    "Handler",
    "MlflowError",
    "Protocol",
    "bad",
    "endpoint",
    "json_number",
    "missing",
    "ms",
]

STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "MALFORMED_REQUEST": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_CONFLICT": 409,
    "INTERNAL_ERROR": 500,
    "NOT_IMPLEMENTED": 501,
}
MAX_BODY_BYTES = 16 * 1024 * 1024  # far above MLflow's 1 MB log-batch limit
MAX_RESULTS = 50_000


class MlflowError(Exception):
    """An error answered in MLflow's format."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error_code": self.code, "message": self.message}, status_code=STATUS[self.code]
        )


def bad(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message)


def missing(name: str) -> MlflowError:
    return bad(
        f"Missing value for required parameter '{name}'. See the API docs for more information "
        "about request parameters."
    )


def json_number(value: float) -> float | str:
    """A metric value for JSON: NaN and infinities as protobuf's JSON writes them."""
    if value - value == 0.0:  # finite (NaN and infinities give NaN)
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def ms(seconds: float | None) -> int | None:
    """Seconds (Limelight's clock) as MLflow's milliseconds."""
    return None if seconds is None else round(seconds * 1000)


class Fields:
    """The fields of one request, read with MLflow's types."""

    def __init__(self, data: dict[str, Any], query: bool) -> None:
        self.data = data
        self.query = query  # values from a query string arrive as text

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None or (self.query and value == "" and required):
            if required:
                raise missing(name)
            return None
        return value

    def string(self, name: str, *, required: bool = False, max_length: int | None = None) -> Any:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, list) and self.query and value:
            value = value[-1]
        if not isinstance(value, str):
            raise bad(
                f"Invalid value {json.dumps(value)} for parameter '{name}' supplied: "
                "expected a string."
            )
        if "\x00" in value:
            raise bad(f"Invalid value for parameter '{name}': it holds a NUL character.")
        if max_length is not None and len(value) > max_length:
            raise bad(
                f"Parameter '{name}' of length {len(value)} exceeds the maximum length of "
                f"{max_length} characters."
            )
        return value

    def integer(
        self, name: str, *, required: bool = False, low: int | None = None, high: int | None = None
    ) -> Any:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, list) and self.query and value:
            value = value[-1]
        if isinstance(value, str) and (self.query or value.lstrip("-").isdigit()):
            with contextlib.suppress(ValueError):
                value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(
                f"Invalid value {json.dumps(value)} for parameter '{name}' supplied: "
                "expected an integer."
            )
        if not -(2**63) <= value < 2**63:
            raise bad(f"Invalid value {value} for parameter '{name}': outside int64.")
        if (low is not None and value < low) or (high is not None and value > high):
            raise bad(
                f"Invalid value {value} for parameter '{name}' supplied: it must be between "
                f"{low} and {high}."
            )
        return value

    def number(self, name: str, *, required: bool = False) -> Any:
        value = self._get(name, required)
        if value is None:
            return None
        if isinstance(value, str):  # protobuf's JSON writes NaN and infinities as text
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(
                f"Invalid value {json.dumps(value)} for parameter '{name}' supplied: "
                "expected a number."
            )
        return float(value)

    def items(self, name: str) -> list[Any]:
        value = self.data.get(name)
        if value is None:
            return []
        if self.query and isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            raise bad(
                f"Invalid value {json.dumps(value)[:200]} for parameter '{name}' supplied: "
                "expected a list."
            )
        return value

    def strings(self, name: str) -> list[str]:
        found = self.items(name)
        for item in found:
            if not isinstance(item, str):
                raise bad(f"Invalid value {json.dumps(item)} in '{name}': expected strings.")
        return found

    def objects(self, name: str) -> list[Fields]:
        found = []
        for item in self.items(name):
            if not isinstance(item, dict):
                raise bad(f"Invalid value {json.dumps(item)[:200]} in '{name}': expected objects.")
            found.append(Fields(item, False))
        return found

    def run_id(self) -> int:
        """``run_id`` (or the older ``run_uuid``) as Limelight's integer run id."""
        text = self.string("run_id") or self.string("run_uuid")
        if text is None:
            raise missing("run_id")
        return parse_run_id(text)


def parse_run_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"Run with id={text} not found")
    return int(text)


def parse_experiment_id(text: Any, what: str = "experiment_id") -> int:
    if not isinstance(text, str | int) or isinstance(text, bool):
        raise bad(f"Invalid value {json.dumps(text)} for parameter '{what}': expected a string.")
    text = str(text)
    if not text.isdigit() or len(text) > 18:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={text} exists")
    return int(text)


class Protocol:
    """The state the handlers share: the store and the token that guards writes."""

    def __init__(self, store: Store, token: str | None) -> None:
        self.store = store
        self.token = token

    def check_write(self, request: Request) -> None:
        if not self.token:
            raise MlflowError(
                "PERMISSION_DENIED",
                "this Limelight server is read-only: start it with LIMELIGHT_TOKEN set and give "
                "the client the same value in MLFLOW_TRACKING_TOKEN",
            )
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise MlflowError(
                "UNAUTHENTICATED",
                "writes need the server's token: set MLFLOW_TRACKING_TOKEN (a bearer token)",
            )
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise MlflowError("PERMISSION_DENIED", "the bearer token is not this server's token")


Handler = Callable[[Protocol, Fields], Any]


async def _fields(request: Request) -> Fields:
    if request.method == "GET":
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in data:
                previous = data[key]
                data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                data[key] = value
        return Fields(data, True)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise bad(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        return Fields(dict(request.query_params), True)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:  # NaN/Infinity literals, integers past 64 bits, ...
        try:
            parsed = json.loads(body, parse_constant=lambda c: float(c))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MlflowError("MALFORMED_REQUEST", f"the request body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise MlflowError("MALFORMED_REQUEST", "the request body must be a JSON object")
    return Fields(parsed, False)


def endpoint(
    protocol: Protocol, handler: Handler, *, write: bool
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint around ``handler``: auth, fields, errors in MLflow's format."""

    async def handle(request: Request) -> Response:
        try:
            if write:
                protocol.check_write(request)
            fields = await _fields(request)
            fields.data.update(request.path_params)
            result = await run_in_threadpool(handler, protocol, fields)
        except MlflowError as exc:
            return exc.response()
        except NotFoundError as exc:
            return MlflowError("RESOURCE_DOES_NOT_EXIST", str(exc)).response()
        except (InvalidInputError, LimelightError) as exc:
            return bad(str(exc)).response()
        if isinstance(result, Response):
            return result
        return Response(orjson.dumps(result), media_type="application/json")

    return handle
