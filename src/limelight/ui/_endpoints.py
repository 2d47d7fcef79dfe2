"""Every endpoint of the dashboard in one table: its path, parameters, form and statuses.

The app builds its routes from :data:`ENDPOINTS`, refuses parameters a page does not list, and
serves the same table as an OpenAPI 3.1 document at ``/openapi.json``, so the description cannot
drift from what the server accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from limelight.ui._params import INT64_MAX

__all__ = ["ENDPOINTS", "Endpoint", "Param", "openapi_document"]


@dataclass(frozen=True)
class Param:
    """A query parameter, path parameter or form field, with its JSON schema."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    repeated: bool = False
    example: Any = None  # shown in the document, and tried first by tools such as schemathesis
    slashes: bool = False  # a path parameter that may hold "/" (flow and experiment names)


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    page: str  # the handler's name in limelight.ui._pages, or a built-in of the app
    summary: str
    statuses: dict[int, str]
    query: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()
    form: tuple[Param, ...] = ()
    media_type: str = "text/html"

    @property
    def route(self) -> str:
        """The path in Starlette's syntax: a parameter that may hold "/" takes the rest."""
        path = self.path
        for param in self.path_params:
            if param.slashes:
                path = path.replace(f"{{{param.name}}}", f"{{{param.name}:path}}")
        return path

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.query)

    @property
    def repeatable(self) -> tuple[str, ...]:
        return tuple(p.name for p in (*self.query, *self.form) if p.repeated)


_ID = {"type": "integer", "minimum": 1, "maximum": INT64_MAX}
_TEXT = {"type": "string"}
_PAGE_OK = {200: "the page"}
_BAD = {400: "a parameter the page does not take, or one it cannot read (the page says which)"}
_NAME = Param("name", "the model's name", _TEXT, required=True, example="recs")
_ACTION_FORM = (
    Param("csrf", "the form's CSRF token, as the page rendered it", _TEXT, required=True),
    Param("token", "the serving token (LIMELIGHT_TOKEN)", _TEXT, required=True),
)
_ACTION_STATUSES = {
    303: "done: back to the page it was sent from",
    400: "a form the action cannot read (the page says which field)",
    403: "read-only dashboard, wrong token, a missing or forged CSRF token, or another origin",
    404: "no such model, version or experiment",
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("/", "GET", "home", "the runs page", {307: "to /runs"}, media_type=""),
    Endpoint(
        "/static/{name}",
        "GET",
        "static",
        "the dashboard's script, styles and plotly",
        {200: "the file", 404: "no such file", **_BAD},
        path_params=(
            Param(
                "name",
                "the file",
                {"type": "string", "enum": ["plotly.min.js", "charts.js", "app.css"]},
                required=True,
            ),
        ),
        media_type="",
    ),
    Endpoint(
        "/runs",
        "GET",
        "runs_page",
        "one page of runs, filtered and sorted",
        {**_PAGE_OK, **_BAD, 404: "a page past the last one"},
        query=(
            Param("flow", "only runs of this flow (or notebook experiment)"),
            Param(
                "status",
                "only runs in this state",
                {"type": "string", "enum": ["", "running", "succeeded", "failed", "interrupted"]},
            ),
            Param("tag", "only runs with this tag"),
            Param(
                "where",
                "a filter in the tracking grammar (a text that does not follow it is a 400)",
                example="metrics.auc > 0.6 and params.lr = 0.1",
            ),
            Param(
                "order",
                "metrics.NAME, params.NAME or an attribute, then asc or desc (else a 400)",
                example="metrics.auc desc",
            ),
            Param("page", "the page, from 1", _ID),
            Param("per_page", "runs a page", {"type": "integer", "enum": [25, 50, 100, 200]}),
        ),
    ),
    Endpoint(
        "/runs/{flow}/{run_id}",
        "GET",
        "run_page",
        "one run: graph, timeline, params, artifacts, metrics, logs",
        {**_PAGE_OK, **_BAD, 404: "no run with that id in that flow"},
        path_params=(
            Param("flow", "the run's flow", _TEXT, required=True, example="Train", slashes=True),
            Param("run_id", "the run's id", _ID, required=True, example=1),
        ),
    ),
    Endpoint(
        "/compare",
        "GET",
        "compare_page",
        "runs side by side",
        {**_PAGE_OK, **_BAD, 404: "no such run (in that flow)"},
        query=(
            Param(
                "run",
                "FLOW/ID, or a bare ID for a run of any flow; up to 20",
                {
                    "type": "array",
                    "items": {"type": "string", "pattern": "^(.+/)?[0-9]+$"},
                    "maxItems": 20,
                },
                repeated=True,
            ),
        ),
    ),
    Endpoint("/models", "GET", "models_page", "every registered model", {**_PAGE_OK, **_BAD}),
    Endpoint(
        "/models/{name}",
        "GET",
        "model_page",
        "a model's versions, aliases, gates and audit log",
        {**_PAGE_OK, **_BAD, 404: "no such model"},
        path_params=(_NAME,),
    ),
    Endpoint(
        "/models/{name}/alias",
        "POST",
        "move_alias",
        "move an alias to a version (needs the serving token)",
        {**_ACTION_STATUSES, 409: "a promotion gate refused the move: the page names it and why"},
        path_params=(_NAME,),
        form=(
            Param("alias", "the alias to move, e.g. champion", _TEXT, required=True),
            Param(
                "version",
                "the version, in the digits 0-9",
                {"type": "string", "pattern": "^[0-9]{1,18}$"},
                required=True,
            ),
            Param("why", "a note for the audit log"),
            *_ACTION_FORM,
        ),
    ),
    Endpoint(
        "/deployments",
        "GET",
        "deployments_page",
        "deployed flows, their next firing, recent firings and what triggered what",
        {**_PAGE_OK, **_BAD},
    ),
    Endpoint(
        "/experiments",
        "GET",
        "experiments_page",
        "experiments and interleaving results",
        {**_PAGE_OK, **_BAD},
    ),
    # before the experiment page, whose name may hold "/": a method the stop action does not take
    # then answers 405 with Allow: POST rather than reaching the page as "NAME/stop"
    Endpoint(
        "/experiments/{name}/stop",
        "POST",
        "stop_experiment",
        "stop an experiment (needs the serving token)",
        _ACTION_STATUSES,
        path_params=(Param("name", "the experiment's name", _TEXT, required=True, slashes=True),),
        form=_ACTION_FORM,
    ),
    Endpoint(
        "/experiments/{name}",
        "GET",
        "experiment_page",
        "an experiment's analysis",
        {**_PAGE_OK, **_BAD, 404: "no such experiment"},
        path_params=(
            Param(
                "name",
                "the experiment's name",
                _TEXT,
                required=True,
                example="button",
                slashes=True,
            ),
        ),
    ),
    Endpoint(
        "/bandits",
        "GET",
        "bandits_page",
        "artwork arms and off-policy estimates",
        {**_PAGE_OK, **_BAD},
    ),
    Endpoint("/serving", "GET", "serving_page", "traffic and latency", {**_PAGE_OK, **_BAD}),
    Endpoint(
        "/monitors",
        "GET",
        "monitors_page",
        "each monitor's values over time with its threshold, its alerts and rollbacks",
        {**_PAGE_OK, **_BAD},
    ),
    Endpoint(
        "/openapi.json",
        "GET",
        "openapi",
        "this description",
        {200: "the OpenAPI document", **_BAD},
        media_type="application/json",
    ),
)


def _parameter(param: Param, where: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": param.name,
        "in": where,
        "description": param.description,
        "required": param.required or where == "path",
        "schema": param.schema,
    }
    if param.repeated:
        entry.update(style="form", explode=True)
    if param.example is not None:
        entry["example"] = param.example
    return entry


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, description in sorted(endpoint.statuses.items()):
        entry: dict[str, Any] = {"description": description}
        media = endpoint.media_type if status < 300 else "text/html"
        if media and status not in (303, 307):
            kind = "object" if media == "application/json" else "string"
            entry["content"] = {media: {"schema": {"type": kind}}}
        if status in (303, 307):
            entry["headers"] = {"location": {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    return responses


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.page,
        "parameters": [_parameter(p, "path") for p in endpoint.path_params]
        + [_parameter(p, "query") for p in endpoint.query],
        "responses": _responses(endpoint),
    }
    if endpoint.form:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {p.name: p.schema for p in endpoint.form},
                        "required": [p.name for p in endpoint.form if p.required],
                        "additionalProperties": False,
                    }
                }
            },
        }
    return operation


def openapi_document(version: str) -> dict[str, Any]:
    """The dashboard's endpoints as an OpenAPI 3.1 document."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Limelight dashboard",
            "version": version,
            "description": (
                "Server-rendered pages over the runs, models, experiments and event log. Every "
                "page refuses query parameters it does not list (400). The two POST actions need "
                "the serving token, the CSRF token of a rendered page (with its cookie) and a "
                "same-origin request."
            ),
        },
        "paths": paths,
    }
