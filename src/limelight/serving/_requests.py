"""Reading and checking request bodies: every mistake becomes a 4xx that names the field."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

__all__ = [
    "EVENT_PATTERN",
    "MAX_FEATURE",
    "MAX_FEEDBACK_VALUE",
    "MAX_ID_CHARS",
    "ApiError",
    "FeedbackRequest",
    "RecommendRequest",
    "check_content_type",
    "load_json_object",
    "parse_feedback",
    "parse_predict",
    "parse_recommend",
]

MAX_ID_CHARS = 256
MAX_EXCLUDE = 10_000
MAX_FEATURES = 10_000
EVENT_CHARS = 64
EVENT_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_FEEDBACK_VALUE = 1e9  # watch seconds, revenue, a rating: far below, and sums stay exact
MAX_FEATURE = 1e6  # |context feature| at most this: a policy's x @ A^-1 @ x stays finite
JSON_TYPE = "application/json"


class ApiError(Exception):
    """A request the API refuses: its HTTP status, a short kind and a message that says the fix."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_request", message)


def check_content_type(header: str | None) -> None:
    """Refuse (415) a body that does not say it is JSON.

    A browser posts text/plain, form and multipart bodies cross-site without asking the server
    first; insisting on application/json makes it ask (CORS preflight), and this server says no.
    """
    media_type = (header or "").partition(";")[0].strip().lower()
    if media_type != JSON_TYPE:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as JSON with 'Content-Type: {JSON_TYPE}', not {header or 'none'!r}",
        )


def _count_keys(value: Any) -> int:
    """The number of keys of every object in a parsed JSON value."""
    children: Iterable[Any]
    if type(value) is dict:
        n, children = len(value), value.values()
    elif type(value) is list:
        n, children = 0, value
    else:
        return 0
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            n += _count_keys(child)
    return n


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ApiError(400, "duplicate_key", f"the key {key!r} appears twice in one object")
    return out


def load_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``: 400 if it is not JSON or repeats a key, 422 if not an object.

    orjson parses (and refuses NaN, 1e400, invalid UTF-8, nesting past 1,024); a repeated key
    is found without a second parse in the usual case: each key is followed by a colon, so a
    body with no more colons than the parsed objects have keys repeats none. Only a body with
    colons inside its strings is parsed again, by the standard library, to look.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _invalid(f"the body must be a JSON object, not {type(body).__name__}")
    colons = raw.count(b":")
    # colons >= keys as written >= keys parsed >= len(body): equality at any step means no repeat
    if colons != len(body) and colons != _count_keys(body):
        json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
    return body


def _check_fields(
    body: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]
) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _invalid(
            f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}"
        )
    missing = [f for f in required if f not in body]
    if missing:
        raise _invalid(f"missing field(s) {', '.join(map(repr, missing))}")


def _id(value: Any, field: str) -> str | int:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2**63:
        # orjson reads an integer below -2**63 as a float
        raise _invalid(f"{field} is out of the 64-bit integer range")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _invalid(f"{field} must be a string or an integer, not {type(value).__name__}")
    if isinstance(value, str):
        if not 0 < len(value) <= MAX_ID_CHARS:
            raise _invalid(f"{field} must have 1 to {MAX_ID_CHARS} characters")
        _utf8(value, field)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise _invalid(f"{field} is out of the 64-bit integer range")
    return value


def _utf8(value: str, field: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(f"{field} holds characters that are not valid Unicode text") from None
    return value


def _number(value: Any, field: str, bound: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{field} must be a number, not {type(value).__name__}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise _invalid(f"{field} must be a finite number")
    if abs(out) > bound:
        raise _invalid(f"{field} must be between {-bound:g} and {bound:g}, got {out:g}")
    return out


@dataclass(frozen=True)
class RecommendRequest:
    user_id: str | int
    k: int
    features: list[float] | None
    artworks: dict[str, list[int]]
    exclude: frozenset[str]


def _features(context: Any) -> tuple[list[float] | None, dict[str, list[int]]]:
    if context is None:
        return None, {}
    if isinstance(context, list):
        context = {"features": context}
    if not isinstance(context, dict):
        raise _invalid(
            'context must be an object like {"features": [0.1, 0.7]} or a list of numbers'
        )
    _check_fields(context, ("features", "artworks"), ())
    features = context.get("features")
    if features is not None:
        if not isinstance(features, list) or len(features) > MAX_FEATURES:
            raise _invalid(f"context.features must be a list of at most {MAX_FEATURES} numbers")
        features = [
            _number(x, f"context.features[{i}]", MAX_FEATURE) for i, x in enumerate(features)
        ]
    artworks = context.get("artworks", {})
    if not isinstance(artworks, dict):
        raise _invalid(
            "context.artworks must be an object mapping an item id to the list of its artwork ids"
        )
    checked = {}
    for item, arms in artworks.items():
        if (
            not isinstance(arms, list)
            or not arms
            or any(
                isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < 2**31 for a in arms
            )
        ):
            raise _invalid(
                f"context.artworks[{item!r}] must be a non-empty list of artwork ids (integers >= 0)"
            )
        checked[str(item)] = arms
    return features, checked


def parse_recommend(body: dict[str, Any], max_k: int) -> RecommendRequest:
    """Check a ``/v1/recommend`` body."""
    _check_fields(body, ("user_id", "k", "context", "exclude"), ("user_id",))
    user_id = _id(body["user_id"], "user_id")
    k = body.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int):
        raise _invalid(f"k must be an integer, not {type(k).__name__}")
    if not 1 <= k <= max_k:
        raise _invalid(f"k must be between 1 and {max_k}, got {k}")
    features, artworks = _features(body.get("context"))
    exclude = body.get("exclude", [])
    if not isinstance(exclude, list) or len(exclude) > MAX_EXCLUDE:
        raise _invalid(f"exclude must be a list of at most {MAX_EXCLUDE} item ids")
    excluded = frozenset(str(_id(x, f"exclude[{i}]")) for i, x in enumerate(exclude))
    return RecommendRequest(user_id, k, features, artworks, excluded)


@dataclass(frozen=True)
class FeedbackRequest:
    request_id: str
    item_id: str
    event: str
    value: float | None


def parse_feedback(body: dict[str, Any]) -> FeedbackRequest:
    """Check a ``/v1/feedback`` body."""
    _check_fields(
        body, ("request_id", "item_id", "event", "value"), ("request_id", "item_id", "event")
    )
    request_id = body["request_id"]
    if not isinstance(request_id, str) or not request_id:
        raise _invalid("request_id must be the text returned by /v1/recommend")
    item_id = str(_id(body["item_id"], "item_id"))
    event = body["event"]
    if not isinstance(event, str) or not EVENT_PATTERN.fullmatch(event):
        raise _invalid(
            f"event must be a name like 'play' or 'add_to_list': a lowercase letter, then up to "
            f"{EVENT_CHARS - 1} lowercase letters, digits or underscores (got {json.dumps(event)})"
        )
    value = body.get("value")
    if value is not None:
        value = _number(value, "value", MAX_FEEDBACK_VALUE)
    return FeedbackRequest(request_id, item_id, event, value)


def _signature_names(signature: dict[str, Any] | None) -> list[str] | None:
    """Input column names from a signature like ``{"inputs": ["a", {"name": "b"}]}``."""
    if not signature or not isinstance(signature.get("inputs"), list):
        return None
    names = []
    for entry in signature["inputs"]:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str):
            return None
        names.append(name)
    return names


def _matrix(rows: Any, what: str) -> np.ndarray:
    for i, row in enumerate(rows):  # numpy would turn "1" and true into numbers
        for x in row if isinstance(row, list) else (row,):
            if type(x) not in (int, float):
                raise _invalid(
                    f"{what}[{i}] must hold JSON numbers only (not strings, booleans or null), "
                    f"found {json.dumps(x)}"
                )
    try:
        X = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        raise _invalid(f"{what} must hold numbers only, all rows of the same length") from None
    if X.ndim == 1:
        X = X.reshape(-1, 1) if what == "columns" else X.reshape(1, -1)
    if X.ndim != 2 or X.size == 0:
        raise _invalid(f"{what} must be a non-empty table of numbers")
    if not np.all(np.isfinite(X)):
        raise _invalid(f"{what} holds non-finite numbers")
    return X


def parse_predict(body: dict[str, Any], signature: dict[str, Any] | None) -> np.ndarray:
    """A 2-D float array from ``{"rows": [[...], ...]}``, ``{"rows": [{"a": 1}, ...]}`` or
    ``{"columns": {"a": [...], ...}}``, in the column order of the model's signature if it has one."""
    _check_fields(body, ("rows", "columns"), ())
    names = _signature_names(signature)
    if ("rows" in body) == ("columns" in body):
        raise _invalid('give exactly one of "rows" (a list of rows) or "columns" (name -> values)')
    if "columns" in body:
        columns = body["columns"]
        if not isinstance(columns, dict) or not columns:
            raise _invalid(
                '"columns" must be a non-empty object mapping a column name to its values'
            )
        order = names or list(columns)
        missing = [n for n in order if n not in columns]
        extra = [n for n in columns if n not in order]
        if missing or extra:
            raise _invalid(
                f"columns do not match the model's signature {order}: missing {missing}, unexpected {extra}"
            )
        values = [columns[n] for n in order]
        if any(not isinstance(v, list) for v in values) or len({len(v) for v in values}) != 1:
            raise _invalid("every column must be a list, all of the same length")
        return np.ascontiguousarray(_matrix(values, "columns").T)
    rows = body["rows"]
    if not isinstance(rows, list) or not rows:
        raise _invalid('"rows" must be a non-empty list of rows')
    if all(isinstance(r, dict) for r in rows):
        order = names or list(rows[0])
        for i, row in enumerate(rows):
            if set(row) != set(order):
                raise _invalid(f"rows[{i}] has fields {sorted(row)}; the model expects {order}")
        rows = [[row[n] for n in order] for row in rows]
    elif any(not isinstance(r, list) for r in rows):
        raise _invalid('"rows" must be all lists of numbers or all objects (column -> number)')
    X = _matrix(rows, "rows")
    if names is not None and X.shape[1] != len(names):
        raise _invalid(
            f"each row must have {len(names)} values ({', '.join(names)}), got {X.shape[1]}"
        )
    return X
