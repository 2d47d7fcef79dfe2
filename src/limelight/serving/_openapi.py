"""The OpenAPI 3.0 document of the serving API (written by hand: no model classes on the hot path)."""

from __future__ import annotations

from typing import Any

from limelight.serving._ids import max_id_chars
from limelight.serving._requests import EVENT_PATTERN, MAX_FEATURE, MAX_FEEDBACK_VALUE

__all__ = ["openapi_document"]

_ID = {
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 256},
        {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    ]
}
_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON",
        401: "Missing or wrong bearer token",
        404: "Unknown model or request id",
        408: "The body did not arrive in time",
        410: "The request id is older than the server's feedback time to live",
        413: "Body too large",
        415: "The body is not sent as Content-Type: application/json",
        422: "A field is missing, of the wrong type or out of range",
        502: "The model failed to answer (error model_error; the model version is in `model`,"
        " the exception class in `exception`)",
        503: "Models are not loaded yet, or the model was refused when it loaded (model_refused)",
    }
    return {str(c): _json({"$ref": "#/components/schemas/Error"}, text[c]) for c in codes}


def openapi_document(
    *, max_k: int, auth: bool, context_features: int | None = None
) -> dict[str, Any]:
    """The document served at ``/openapi.json``; with ``context_features`` (the served artwork
    policy is contextual), ``context.features`` of that length is required."""
    features: dict[str, Any] = {
        "type": "array",
        "maxItems": 10_000,
        "items": {"type": "number", "minimum": -MAX_FEATURE, "maximum": MAX_FEATURE},
    }
    if context_features is not None:
        features.update(minItems=context_features, maxItems=context_features)
    recommend_in: dict[str, Any] = {
        "type": "object",
        "required": ["user_id"],
        "additionalProperties": False,
        "properties": {
            "user_id": _ID,
            "k": {"type": "integer", "minimum": 1, "maximum": max_k, "default": 10},
            "context": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "features": features,
                    "artworks": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                        },
                    },
                },
            },
            "exclude": {"type": "array", "maxItems": 10_000, "items": _ID},
        },
    }
    if context_features is not None:
        recommend_in["required"] = ["user_id", "context"]
        recommend_in["properties"]["context"]["required"] = ["features"]
    item = {
        "type": "object",
        "required": ["item_id", "score"],
        "properties": {
            "item_id": _ID,
            "score": {"type": "number"},
            "artwork": {"type": "integer"},
            "propensity": {"type": "number"},
        },
    }
    recommend_out = {
        "type": "object",
        "required": ["request_id", "user_id", "items", "models", "experiments"],
        "properties": {
            "request_id": {"type": "string"},
            "user_id": _ID,
            "items": {"type": "array", "items": item},
            "models": {"type": "object", "additionalProperties": {"type": "string"}},
            "experiments": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    feedback_in = {
        "type": "object",
        "required": ["request_id", "item_id", "event"],
        "additionalProperties": False,
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": max_id_chars(max_k)},
            "item_id": {**_ID, "description": "One of the items of that recommendation"},
            "event": {"type": "string", "pattern": f"^{EVENT_PATTERN.pattern}$"},
            "value": {
                "type": "number",
                "minimum": -MAX_FEEDBACK_VALUE,
                "maximum": MAX_FEEDBACK_VALUE,
            },
        },
    }
    numbers = {"type": "array", "minItems": 1, "items": {"type": "number"}}
    number_rows = {"type": "array", "minItems": 1, "items": numbers}
    predict_in = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["rows"]}, {"required": ["columns"]}],
        "properties": {
            "rows": {
                "oneOf": [
                    number_rows,
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "minProperties": 1,
                            "additionalProperties": {"type": "number"},
                        },
                    },
                ]
            },
            "columns": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": numbers,
            },
        },
    }
    plain = {"type": "object", "additionalProperties": True}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Limelight serving",
            "version": "1",
            "description": (
                "Recommendations with artwork, predictions, feedback; health and metrics. "
                "Every POST body is JSON sent as Content-Type: application/json (else 415). "
                "A method a path does not take is answered 405 with an Allow header."
            ),
        },
        "paths": {
            "/v1/recommend": {
                "post": {
                    "operationId": "recommend",
                    "summary": "Ranked titles for a user (popular titles for an unknown user)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": recommend_in}},
                    },
                    "responses": {
                        "200": _json(recommend_out, "Ranked titles"),
                        **_errors(400, 401, 404, 408, 413, 415, 422, 502, 503),
                    },
                }
            },
            "/v1/predict/{model}": {
                "post": {
                    "operationId": "predict",
                    "summary": "Predictions of a served model with a predict method",
                    "parameters": [
                        {
                            "name": "model",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": predict_in}},
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["model", "predictions"],
                                "properties": {
                                    "model": {"type": "string"},
                                    "predictions": {"type": "array"},
                                },
                            },
                            "Predictions, one per row",
                        ),
                        **_errors(400, 401, 404, 408, 413, 415, 422, 502, 503),
                    },
                }
            },
            "/v1/feedback": {
                "post": {
                    "operationId": "feedback",
                    "summary": "What the user did with a recommended title",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": feedback_in}},
                    },
                    "responses": {
                        "202": _json(
                            {
                                "type": "object",
                                "required": ["accepted", "duplicate"],
                                "properties": {
                                    "accepted": {"type": "boolean"},
                                    "duplicate": {"type": "boolean"},
                                },
                            },
                            "Logged; or, with duplicate true, logged before (the same request "
                            "id, item and event are logged once)",
                        ),
                        **_errors(400, 401, 404, 408, 410, 413, 415, 422),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "models",
                    "summary": (
                        "The served models, their versions, running experiments, and the "
                        "process id of the worker that answers"
                    ),
                    "responses": {"200": _json(plain, "Served models"), **_errors(401, 503)},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "The process answers (always open)",
                    "security": [],
                    "responses": {"200": _json(plain, "Alive")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Every model is loaded",
                    "security": [],
                    "responses": {"200": _json(plain, "Ready"), **_errors(503)},
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics of the worker that answers",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401),
                    },
                }
            },
        },
        "components": {"schemas": {"Error": _ERROR}},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc
