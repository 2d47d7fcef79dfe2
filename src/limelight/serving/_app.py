"""The ASGI application: recommend, predict, feedback, models, health, readiness and metrics.

Handlers run on the event loop (a top-k over a few thousand titles takes well under a
millisecond, less than a hop to a thread pool). Every error a client can cause is a 4xx with a
JSON body ``{"error": kind, "message": ...}``. A served model that fails (raises, or answers
against the recommend contract) is a 502 ``model_error`` naming the model version and the
exception class (not its message, which may hold data; the log has it), counted in /metrics.
Anything else is logged and answered with a 500, and the worker goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from limelight.core.config import Config, resolve_config
from limelight.core.errors import InvalidInputError, NotFoundError, StorageError
from limelight.experiments.allocation import assign, assignment_fields
from limelight.serving._auth import UNAUTHORIZED, TokenGuard, token_matches
from limelight.serving._batching import RecommendBatcher
from limelight.serving._contract import DEFAULT_PROBE_SECONDS, ModelCallError
from limelight.serving._ids import RequestIds, load_secret
from limelight.serving._metrics import Counter, Metrics
from limelight.serving._models import Loaded, ModelSet, Snapshot
from limelight.serving._openapi import openapi_document
from limelight.serving._requests import (
    MAX_EXCLUDE,
    ApiError,
    RecommendRequest,
    check_content_type,
    load_json_object,
    parse_feedback,
    parse_predict,
    parse_recommend,
)
from limelight.serving._seen import SeenFeedback
from limelight.store import open_store
from limelight.store.events import EventWriter

__all__ = [
    "DEFAULT_FEEDBACK_TTL",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_K",
    "JSONResponse",
    "create_app",
]

log = logging.getLogger("limelight.serving")
DEFAULT_MAX_BODY = 1_000_000
DEFAULT_MAX_K = 1000
DEFAULT_FEEDBACK_TTL = 86_400.0  # a day: feedback on an older recommendation is refused (410)
Handler = Callable[[Request], Awaitable[Response]]


class JSONResponse(Response):
    """A JSON response rendered by orjson (numpy scalars and arrays included)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


# (name, help, type) of what /metrics tells of each event writer: written, rejected, failed,
# pending, in that order
_EVENT_COUNTERS = (
    (
        "limelight_events_written_total",
        "Events committed to the event log's table (under limelight serve: by its committer "
        "process, the same figure in every worker).",
        "counter",
    ),
    (
        "limelight_events_rejected_total",
        "Events set aside because the schema cannot hold them.",
        "counter",
    ),
    (
        "limelight_events_write_failures_total",
        "Failed commits to the event log's table (their events stay in the durable buffer).",
        "counter",
    ),
    (
        "limelight_events_pending",
        "Events in the durable buffer, not yet committed to the table.",
        "gauge",
    ),
)


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status)


class _Endpoint:
    """An ASGI app around ``handler``, which answers every request itself, errors included.

    Starlette would wrap a plain function in its own request/response adapter and exception
    handling (per request: two closures and a wrapped ``send``), which this does not need.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await self.handler(Request(scope, receive, send))
        await response(scope, receive, send)


class _Service:
    """State of one worker and the handlers that use it."""

    def __init__(
        self,
        models: ModelSet,
        config: Config,
        *,
        token: str | None,
        max_body: int,
        max_k: int,
        body_timeout: float,
        feedback_ttl: float,
        seen_feedback: SeenFeedback,
        commit_events: bool = True,
    ) -> None:
        self.commit_events = commit_events
        self.models = models
        self.config = config
        self.token = token.encode() if token else None
        self.max_body = max_body
        self.max_k = max_k
        self.body_timeout = body_timeout
        self.metrics = Metrics()
        self.batcher = RecommendBatcher()
        self.ids = RequestIds(load_secret(config.home), max_items=max_k)
        self.feedback_ttl = feedback_ttl
        self.seen_feedback = seen_feedback
        self.impressions: EventWriter | None = None
        self.feedback_log: EventWriter | None = None
        self.failures: EventWriter | None = None
        self._openapi: dict[int | None, bytes] = {}  # by the features the artwork policy needs
        self._reading: dict[asyncio.Task[Any], float] = {}  # body reads and their deadlines

    # -- plumbing -------------------------------------------------------------------------------
    def start(self) -> None:
        store = open_store(self.config)
        self.impressions = store.event_writer("impressions", commit=self.commit_events)
        self.feedback_log = store.event_writer("feedback", commit=self.commit_events)
        self.failures = store.event_writer("failures", commit=self.commit_events)
        for writer in self._writers():
            writer.warm_up()
        self.models.start()

    def stop(self) -> None:
        self.models.stop()
        for writer in self._writers():
            writer.close()
        self.seen_feedback.close()  # this process's mapping; other workers keep theirs

    def _writers(self) -> list[EventWriter]:
        """The event writers started so far: impressions, feedback and failed requests."""
        return [w for w in (self.impressions, self.feedback_log, self.failures) if w is not None]

    def route(self, path: str, handler: Handler, method: str, *, open_: bool = False) -> Route:
        """``handler`` behind the bearer-token check, error mapping and metrics."""

        async def endpoint(request: Request) -> Response:
            start = time.perf_counter()
            try:
                if not open_ and self.token is not None:
                    self._authorize(request)
                response = await handler(request)
            except ApiError as exc:
                response = _error(exc.status, exc.kind, exc.message)
            except NotFoundError as exc:
                response = _error(404, "not_found", str(exc))
            except InvalidInputError as exc:
                response = _error(422, "invalid_request", str(exc))
            except ModelCallError as exc:
                response = self._model_failed(exc, f"{method} {path}")
                await self._log_failure(exc, path, start)
            except Exception:
                log.exception("%s %s failed", method, path)
                response = _error(500, "internal", "the server failed to answer; see its log")
            status = response.status_code
            if status >= 400:
                self.metrics.error(path, str(status))
            self.metrics.observe(path, method, status, time.perf_counter() - start)
            return response

        return Route(path, _Endpoint(endpoint), methods=[method])

    def _model_failed(self, exc: ModelCallError, where: str) -> JSONResponse:
        log.error("%s: model %s failed", where, exc.label, exc_info=exc.cause)
        self.metrics.model_error(exc.model, exc.version)
        return JSONResponse(
            {
                "error": "model_error",
                "message": f"model {exc.label} failed to answer ({exc.kind}); see the server log",
                "model": exc.label,
                "exception": exc.kind,
            },
            status_code=502,
        )

    async def _log_failure(self, exc: ModelCallError, path: str, start: float) -> None:
        """Put the failed request in the event log (durably, before the 502 goes out), so a
        version's error rate comes from the log. Only the failure path pays for it."""
        if self.failures is None:
            return
        record = {
            "ts": time.time(),
            "models": [exc.label],
            "endpoint": path,
            "error": exc.kind,
            "latency_ms": (time.perf_counter() - start) * 1000.0,
        }
        try:
            await self.failures.acknowledge(record)
        except Exception as err:  # the 502 still goes out; /metrics counts it
            log.warning("the failed request could not be logged: %s", err)

    def _authorize(self, request: Request) -> None:
        assert self.token is not None
        if not token_matches(request.headers.get("authorization", ""), self.token):
            raise ApiError(401, "unauthorized", UNAUTHORIZED)

    async def _body(self, request: Request) -> dict[str, Any]:
        check_content_type(request.headers.get("content-type"))
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            raise ApiError(413, "too_large", f"the body may have at most {self.max_body} bytes")
        chunks, size = [], 0
        task = asyncio.current_task()
        assert task is not None
        self._reading[task] = time.monotonic() + self.body_timeout
        try:
            more = True
            while more:  # the ASGI messages themselves: Starlette's stream() is an async generator
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ApiError(400, "disconnected", "the client went away mid-body")
                chunk = message.get("body", b"")
                more = message.get("more_body", False)
                size += len(chunk)
                if size > self.max_body:
                    raise ApiError(
                        413, "too_large", f"the body may have at most {self.max_body} bytes"
                    )
                chunks.append(chunk)
        except asyncio.CancelledError:
            if task in self._reading:  # not cancelled by the watcher, which drops what it stops
                raise
            task.uncancel()
            raise ApiError(
                408, "timeout", f"the body did not arrive within {self.body_timeout} s"
            ) from None
        finally:
            self._reading.pop(task, None)
        return load_json_object(b"".join(chunks))

    async def watch_body_reads(self) -> None:
        """Cancel body reads that outlive ``body_timeout`` (they answer 408).

        One watcher per worker instead of a timer per request (``asyncio.timeout`` cost about
        3% of a worker's time under load); a read is stopped up to a third of the timeout late.
        """
        period = min(1.0, self.body_timeout / 3)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for task, deadline in list(self._reading.items()):
                if now >= deadline:
                    del self._reading[task]
                    task.cancel()

    def _snapshot(self) -> Snapshot:
        snap = self.models.snapshot
        if snap is None:
            raise ApiError(503, "not_ready", "models are still loading; retry shortly")
        return snap

    @staticmethod
    def _refused(snap: Snapshot, slot: str | None = None) -> None:
        """503 when ``slot`` (default: any slot) has no version to serve, only a refused one."""
        missing = [r for s, r in snap.refused.items() if slot in (None, s) and s not in snap.slots]
        if missing:
            raise ApiError(503, "model_refused", "; ".join(r.describe() for r in missing))

    # -- endpoints ------------------------------------------------------------------------------
    async def recommend(self, request: Request) -> Response:
        start = time.perf_counter()
        req = parse_recommend(await self._body(request), self.max_k)
        snap = self._snapshot()
        if snap.recommender is None:
            self._refused(snap)
            raise ApiError(
                404,
                "not_found",
                "no served model has a recommend method; serve one with --model recs=recs@champion",
            )
        now = time.time()
        assignments = assign(req.user_id, snap.experiments, now) if snap.experiments else {}
        chosen, deciders = snap.choose(assignments)
        ranker = chosen[snap.recommender]
        item_ids, scores = await self._rank(ranker, req)
        artwork = chosen.get(snap.artwork) if snap.artwork else None
        models = {snap.recommender: ranker.label}
        n = len(item_ids)
        context = None
        if artwork is None:
            items = [{"item_id": i, "score": v} for i, v in zip(item_ids, scores, strict=True)]
            shown: list[str | None] = [None] * n
            props: list[float | None] = [None] * n
        else:
            assert snap.artwork is not None
            models[snap.artwork] = artwork.label
            arms, chosen_props = self._artworks(artwork, req, item_ids)
            items = [
                {"item_id": i, "score": v, "artwork": a, "propensity": p}
                for i, v, a, p in zip(item_ids, scores, arms, chosen_props, strict=True)
            ]
            shown, props = [str(a) for a in arms], list(chosen_props)
            if req.features is not None:  # what the policy chose with, for input-drift checks
                names = _feature_names(artwork.obj, len(req.features))
                context = [
                    {"name": k, "value": x} for k, x in zip(names, req.features, strict=True)
                ]
        user = str(req.user_id)
        shown_items = [str(i) for i in item_ids]
        request_id = self.ids.issue(user, now, shown_items)
        fields = assignment_fields(assignments)
        assert self.impressions is not None
        await self._acknowledge(
            self.impressions,
            {
                "request_id": request_id,
                "ts": now,
                "user_id": user,
                "items": shown_items,
                "scores": scores,
                "artworks": shown,
                "propensities": props,
                "experiments": fields["experiments"],
                "variants": fields["variants"],
                "decided": [name in deciders.values() for name in fields["experiments"]],
                "models": list(models.values()),
                "latency_ms": (time.perf_counter() - start) * 1000.0,
                "context": context,
            },
        )
        return JSONResponse(
            {
                "request_id": request_id,
                "user_id": req.user_id,
                "items": items,
                "models": models,
                "experiments": assignments,
            }
        )

    async def _rank(self, model: Loaded, req: RecommendRequest) -> tuple[list[Any], list[float]]:
        n = req.k + len(req.exclude)
        if model.n_items is not None:  # stated by the model or learnt by its load-time probe
            n = min(n, model.n_items)
        try:
            items, scores = await self.batcher.recommend(model.obj, req.user_id, n)
        except Exception as exc:  # raised, or answered against the contract (ContractError)
            raise ModelCallError(model.version.model, model.version.version, exc) from exc
        if req.exclude or not all(map(math.isfinite, scores)):  # -inf: a seen title as filler
            kept = [
                (i, v)
                for i, v in zip(items, scores, strict=True)
                if math.isfinite(v) and str(i) not in req.exclude
            ]
            items, scores = [i for i, _ in kept], [v for _, v in kept]
        return items[: req.k], scores[: req.k]

    def _artworks(
        self, loaded: Loaded, req: RecommendRequest, item_ids: list[Any]
    ) -> tuple[list[int], list[float]]:
        needed = _features_needed(loaded.obj)
        if needed is not None and (req.features is None or len(req.features) != needed):
            given = "none" if req.features is None else f"{len(req.features)}"
            raise ApiError(
                422,
                "invalid_request",
                f"the artwork policy {loaded.label} needs context.features: {needed} numbers "
                f"(given: {given})",
            )
        try:
            return self._choose_artworks(loaded.obj, req, item_ids)
        except Exception as exc:
            if req.artworks and isinstance(exc, InvalidInputError):
                raise  # the policy refuses artwork ids the request gave: a 422
            raise ModelCallError(loaded.version.model, loaded.version.version, exc) from exc

    @staticmethod
    def _choose_artworks(
        policy: Any, req: RecommendRequest, item_ids: list[Any]
    ) -> tuple[list[int], list[float]]:
        context = np.asarray(req.features, dtype=np.float64) if req.features is not None else None
        # a policy that carries its catalogue knows each title's artworks; the request may override
        catalogue = getattr(policy, "candidates_for", None)
        known = catalogue(item_ids) if callable(catalogue) else [None] * len(item_ids)
        arms, props = [], []
        for item, default in zip(item_ids, known, strict=True):
            candidates = req.artworks.get(str(item), default)
            arm, prop = policy.choose(
                context, None if candidates is None else np.asarray(candidates, dtype=np.int64)
            )
            arms.append(int(arm))
            props.append(float(prop))
        return arms, props

    async def predict(self, request: Request) -> Response:
        name = request.path_params["model"]
        body = await self._body(request)
        snap = self._snapshot()
        loaded = snap.slots.get(name)
        if loaded is None:
            self._refused(snap, name)
            raise ApiError(
                404,
                "not_found",
                f"no served model {name!r}; served: {', '.join(sorted(snap.slots))}",
            )
        if not callable(getattr(loaded.obj, "predict", None)):
            raise ApiError(
                404,
                "not_found",
                f"model {name!r} ({loaded.label}) has no predict method; use /v1/recommend",
            )
        X = parse_predict(body, loaded.version.signature)
        try:
            out = loaded.obj.predict(X)
        except (ValueError, TypeError) as exc:
            raise ApiError(
                422, "invalid_request", f"{loaded.label} refused the input: {exc}"
            ) from None
        except Exception as exc:
            raise ModelCallError(loaded.version.model, loaded.version.version, exc) from exc
        predictions = np.asarray(out)
        values = predictions.tolist()
        if predictions.dtype.kind == "f" and not np.all(np.isfinite(predictions)):
            values = np.asarray(predictions, dtype=object)  # non-finite numbers become null
            values[~np.isfinite(predictions)] = None
            values = values.tolist()
        return JSONResponse({"model": loaded.label, "predictions": values})

    async def feedback(self, request: Request) -> Response:
        req = parse_feedback(await self._body(request))
        try:
            issued = self.ids.verify(req.request_id)
        except InvalidInputError as exc:
            raise ApiError(404, "unknown_request", str(exc)) from None
        now = time.time()
        expires = issued.issued_at + self.feedback_ttl
        if now > expires:
            raise ApiError(
                410,
                "expired",
                f"request_id expired: feedback is taken for {self.feedback_ttl:g} s after the "
                "recommendation",
            )
        if not issued.showed(req.item_id):
            raise ApiError(
                422,
                "invalid_request",
                f"item_id {req.item_id!r} was not among the items of that recommendation",
            )
        key = (req.request_id, req.item_id, req.event)
        if not self.seen_feedback.add(key, expires, now):
            return JSONResponse({"accepted": True, "duplicate": True}, status_code=202)
        assert self.feedback_log is not None
        try:
            await self._acknowledge(
                self.feedback_log,
                {
                    "request_id": req.request_id,
                    "ts": now,
                    "user_id": issued.user_id,
                    "item_id": req.item_id,
                    "event": req.event,
                    "value": req.value,
                },
            )
        except ApiError:  # not recorded: the client's retry must not be taken for a duplicate
            self.seen_feedback.forget(key)
            raise
        return JSONResponse({"accepted": True, "duplicate": False}, status_code=202)

    async def _acknowledge(self, writer: EventWriter, record: dict[str, Any]) -> None:
        """Wait until ``record`` is in the durable buffer (on disk): only then is the request
        answered. A buffer that cannot be written is a 503; nothing was acknowledged."""
        try:
            await writer.acknowledge(record)
        except StorageError as exc:
            log.error("the %s buffer cannot be written: %s", writer.kind, exc)
            raise ApiError(
                503, "event_log_unavailable", "the event could not be recorded; retry shortly"
            ) from None

    async def list_models(self, request: Request) -> Response:
        snap = self._snapshot()
        methods = ("recommend", "predict", "choose")
        return JSONResponse(
            {
                "models": {
                    slot: {
                        "ref": m.ref,
                        "model": m.version.model,
                        "version": m.version.version,
                        "methods": [x for x in methods if callable(getattr(m.obj, x, None))],
                    }
                    for slot, m in snap.slots.items()
                },
                "recommender": snap.recommender,
                "artwork": snap.artwork,
                "experiments": [s.name for s in snap.experiments],
                "swaps": self.models.swaps,
                "worker": os.getpid(),
            }
        )

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def readyz(self, request: Request) -> Response:
        snap = self.models.snapshot
        if snap is None:
            raise ApiError(503, "not_ready", "models are still loading")
        refused = {
            slot: {"model": r.model, "version": r.version, "ref": r.ref, "reason": r.reason}
            for slot, r in snap.refused.items()
        }
        if snap.missing:
            return JSONResponse(
                {
                    "error": "not_ready",
                    "message": "; ".join(r.describe() for r in snap.missing),
                    "refused": refused,
                },
                status_code=503,
            )
        models = {s: f"{m}/{v}" for s, m, v in self.models.versions()}
        # a refused alias move: the version it would replace still serves, so still ready
        return JSONResponse({"status": "ready", "models": models, "refused": refused})

    async def metrics_text(self, request: Request) -> Response:
        counters = [
            Counter(
                "limelight_model_swaps_total",
                "Model versions switched in without a restart.",
                self.models.swaps,
            ),
            Counter(
                "limelight_model_refusals_total",
                "Model versions refused at load: they broke the recommend contract.",
                len(self.models.refusals),
            ),
            Counter(
                "limelight_recommend_batches_total",
                "Model calls that answered several recommend requests at once.",
                self.batcher.batches,
            ),
            Counter(
                "limelight_recommend_batched_requests_total",
                "Recommend requests answered by those shared calls.",
                self.batcher.batched_requests,
            ),
        ]
        for writer in self._writers():
            counters += [
                Counter(name, text, value, {"kind": writer.kind}, kind)
                for (name, text, kind), value in zip(
                    _EVENT_COUNTERS,
                    writer.counters(),
                    strict=True,
                )
            ]
        return Response(
            self.metrics.render(self.models.versions(), counters),
            media_type="text/plain; version=0.0.4",
        )

    async def openapi_json(self, request: Request) -> Response:
        features = self._context_features()
        doc = self._openapi.get(features)
        if doc is None:
            doc = self._openapi[features] = orjson.dumps(
                openapi_document(
                    max_k=self.max_k, auth=self.token is not None, context_features=features
                )
            )
        return Response(doc, media_type="application/json")

    def _context_features(self) -> int | None:
        """How many context features the served artwork policy needs; None if it needs none."""
        snap = self.models.snapshot
        if snap is None or snap.artwork is None:
            return None
        return _features_needed(snap.slots[snap.artwork].obj)


def _features_needed(policy: Any) -> int | None:
    """How many context features ``policy`` needs for a choice; None if it takes none."""
    if not getattr(policy, "contextual", False):
        return None
    n = getattr(policy, "n_features", None)
    return n if isinstance(n, int) and n > 0 else None


def _feature_names(policy: Any, count: int) -> list[str]:
    """The names the log gives ``count`` context features: the policy's ``feature_names`` (a
    list of strings) when it names as many, else ``x0``, ``x1``, ... by position."""
    names = getattr(policy, "feature_names", None)
    if (
        isinstance(names, list | tuple)
        and len(names) == count
        and all(isinstance(name, str) for name in names)
    ):
        return list(names)
    return [f"x{j}" for j in range(count)]


class _BuiltOnFirstUse:
    """A mounted app, made by ``factory(config, token)`` when its first request comes.

    The dashboard imports scipy.stats, Jinja2 and plotly: about 1.4 s of every worker's start
    (here, most of serving's cold start) for pages that most workers never serve.
    """

    def __init__(
        self, factory: Callable[[Config, str | None], Any], config: Config, token: str | None
    ) -> None:
        self._factory, self._config, self._token = factory, config, token
        self._app: Any = None
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            async with self._lock:
                if self._app is None:  # imported off the event loop: other requests go on
                    self._app = await asyncio.to_thread(self._factory, self._config, self._token)
        await self._app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", "error")
    response = _error(status, "not_found" if status == 404 else "http_error", str(detail))
    response.headers.update(getattr(exc, "headers", None) or {})  # 405's Allow (RFC 9110)
    return response


def create_app(
    models: Mapping[str, str] | list[str],
    *,
    config: Config | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    max_k: int = DEFAULT_MAX_K,
    body_timeout: float = 10.0,
    feedback_ttl: float = DEFAULT_FEEDBACK_TTL,
    seen_feedback: SeenFeedback | None = None,
    poll_seconds: float = 1.0,
    probe_seconds: float = DEFAULT_PROBE_SECONDS,
    mounts: Mapping[str, Callable[[Config, str | None], Any]] | None = None,
    commit_events: bool = True,
) -> Starlette:
    """The serving app for ``models`` (``{"recs": "recs@champion", ...}``).

    Events are acknowledged once in the worker's durable buffer; ``commit_events`` says whether
    this process also commits them to the event log's tables (:func:`serve` runs a committer
    process for its workers instead, and passes False).

    ``mounts`` adds other apps under a path, each built by ``factory(config, token)`` on its
    first request: the command line mounts the dashboard at ``/ui`` this way (serving itself
    never imports it).

    ``feedback_ttl`` is how long a request id takes feedback; ``seen_feedback`` the table of
    feedback already logged, which :func:`serve` shares between its workers (default: one of
    this app's own).

    ``token`` (default: the ``LIMELIGHT_TOKEN`` environment variable) protects every endpoint
    but ``/healthz`` and ``/readyz``, the ``mounts`` included (there also as the password of
    HTTP Basic, for browsers). Models load when the app starts (its lifespan) and follow their
    aliases every ``poll_seconds``; a version with ``recommend`` is probed first and refused if
    it breaks the contract or takes more than ``probe_seconds``.
    """
    config = config or resolve_config()
    token = token if token is not None else os.environ.get("LIMELIGHT_TOKEN") or None
    if max_body_bytes < 1 or max_k < 1:
        raise InvalidInputError("max_body_bytes and max_k must be positive")
    if (
        isinstance(feedback_ttl, bool)
        or not isinstance(feedback_ttl, int | float)
        or not feedback_ttl > 0
    ):
        raise InvalidInputError(
            f"feedback_ttl must be a positive number of seconds, not {feedback_ttl!r}"
        )
    model_set = ModelSet(
        models,
        open_store(config),
        poll_seconds=poll_seconds,
        probe_seconds=probe_seconds,
        probe_limit=max_k + MAX_EXCLUDE,
    )
    service = _Service(
        model_set,
        config,
        token=token,
        max_body=max_body_bytes,
        max_k=max_k,
        body_timeout=body_timeout,
        feedback_ttl=float(feedback_ttl),
        seen_feedback=seen_feedback or SeenFeedback(),
        commit_events=commit_events,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        watcher = asyncio.create_task(service.watch_body_reads())
        try:
            yield
        finally:
            watcher.cancel()
            service.stop()

    s = service
    routes: list[Route | Mount] = [
        s.route("/v1/recommend", s.recommend, "POST"),
        s.route("/v1/predict/{model}", s.predict, "POST"),
        s.route("/v1/feedback", s.feedback, "POST"),
        s.route("/v1/models", s.list_models, "GET"),
        s.route("/metrics", s.metrics_text, "GET"),
        s.route("/healthz", s.healthz, "GET", open_=True),
        s.route("/readyz", s.readyz, "GET", open_=True),
        s.route("/openapi.json", s.openapi_json, "GET", open_=True),
    ]
    for path, factory in (mounts or {}).items():
        mounted: Any = _BuiltOnFirstUse(factory, config, token)
        # the token that guards /v1 guards what is mounted beside it, pages included
        routes.append(Mount(path, app=mounted if token is None else TokenGuard(mounted, token)))
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.service = service
    return app
