"""The recommend contract: probed at load, checked on every answer, a failing model is a 502."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from tests.serving._broken import FailingPolicy, FailingPredictor, Ranker
from tests.serving._toy import Linear
from tests.serving.conftest import interactions

from limelight.core.errors import InvalidInputError
from limelight.experiments import ExperimentSpec, Variant
from limelight.experiments.store import create_experiment, set_experiment_status
from limelight.recsys import EASE
from limelight.registry import Registry
from limelight.serving._app import create_app
from limelight.serving._contract import ContractError, check_many, check_one, probe
from limelight.store import open_store

# -- the probe alone --------------------------------------------------------------------------

REFUSED = [
    (
        "single_2d",
        "for one user and k=3, expected item ids and scores of shape (n,) with n <= 3, "
        "got shapes (1, 3) and (1, 3)",
    ),
    ("short_scores", "got shapes (3,) and (2,)"),
    ("nan", "scores must be finite numbers (or -inf for a seen title), got nan at position 1"),
    ("inf", "got inf at position 0"),
    ("float_ids", "item ids must be integers or strings, got dtype float64"),
    ("too_many", "with n <= 3, got shapes (4,) and (4,)"),
    ("raises", "recommend('u0', k=3) raised RuntimeError: this model always fails"),
    (
        "bad_rows",
        "for 3 users and k=3, expected item ids and scores of shape (3, n) with n <= 3, "
        "got shapes (2, 3) and (2, 3)",
    ),
    ("no_pair", "expected a pair (item_ids, scores), got dict"),
]


@pytest.mark.parametrize(("mode", "message"), REFUSED)
def test_the_probe_refuses_a_broken_model_saying_what_came_back(mode: str, message: str) -> None:
    with pytest.raises(ContractError) as info:
        probe(Ranker(mode), limit=100)
    assert message in str(info.value)


def test_seen_filler_and_huge_scores_pass_nan_and_inf_do_not() -> None:
    assert check_one(([1, 2], [0.0, -np.inf]), 2) == ([1, 2], [0.0, -np.inf])
    assert check_one((["a", "b"], [1e308, 1e308]), 2)[1] == [1e308, 1e308], "a sum overflowing"
    with pytest.raises(ContractError, match="got inf at position 0"):
        check_one(([1, 2], [np.inf, -np.inf]), 2)
    rows = check_many(([[1, 2], [3, 4]], [[1.0, -np.inf], [2.0, 1.0]]), 2, 2)
    assert rows == [([1, 2], [1.0, -np.inf]), ([3, 4], [2.0, 1.0])]
    with pytest.raises(ContractError, match="got nan at position 3"):
        check_many(([[1, 2], [3, 4]], [[1.0, 0.0], [2.0, np.nan]]), 2, 2)
    with pytest.raises(ContractError, match="item ids must be integers or strings, got bool"):
        check_one((np.array([True, 1], dtype=object), [1.0, 0.0]), 2)


def test_the_probe_refuses_a_model_slower_than_its_limit() -> None:
    with pytest.raises(ContractError, match=r"did not answer the probe within 0\.2 s"):
        probe(Ranker("slow"), seconds=0.2, limit=100)


def test_the_probe_learns_the_catalogue_of_a_model_that_states_none() -> None:
    assert probe(Ranker("good"), limit=100) == 6, "the largest k it answers in full"
    assert probe(Ranker("good", knows_users=False), limit=100) == 6, "probed with users 0, 1, 2"
    assert probe(Ranker("good"), limit=4) is None, "answers all that serving can ask for"
    assert probe(EASE(l2=1.0).fit(interactions()), limit=100) == 6, "its n_items_"


def test_a_model_too_slow_to_measure_is_served_without_a_catalogue_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class SlowForLongLists(Ranker):
        def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> Any:
            if k > 3:
                time.sleep(1)
            return super().recommend(user_ids, min(k, 6), exclude_seen=exclude_seen)

    with caplog.at_level(logging.WARNING, "limelight.serving"):
        assert probe(SlowForLongLists("good"), seconds=0.3, limit=100) is None
    assert "SlowForLongLists states no catalogue size" in caplog.text


def test_a_model_that_takes_one_user_at_a_time_passes() -> None:
    class OneAtATime(Ranker):
        def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> Any:
            if np.ndim(user_ids):
                raise TypeError("one user at a time")
            return super().recommend(user_ids, k, exclude_seen=exclude_seen)

    assert probe(OneAtATime("good"), limit=100) == 6


# -- the app: refusals, 502s, the catalogue bound, decided --------------------------------------


@contextmanager
def running(models: dict[str, str], **options: Any) -> Iterator[Starlette]:
    """The app with its models loaded (no poller: tests call ``refresh`` themselves)."""
    app = create_app(models, poll_seconds=0, **options)
    service = app.state.service
    service.start()
    try:
        yield app
    finally:
        service.stop()


def call_all(app: Starlette, requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Every (method, path, json body) request at once, on one event loop, in order."""

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as http:
            return await asyncio.gather(*[http.request(m, p, json=body) for m, p, body in requests])

    return asyncio.run(main())


def call(app: Starlette, method: str, path: str, body: Any = None) -> httpx.Response:
    return call_all(app, [(method, path, body)])[0]


def recommend(app: Starlette, users: list[Any], **fields: Any) -> list[httpx.Response]:
    return call_all(app, [("POST", "/v1/recommend", {"user_id": u, **fields}) for u in users])


@pytest.fixture
def reg(home: Path) -> Registry:
    registry = Registry()
    registry.set_alias(
        "recs", "champion", registry.register("recs", Ranker("good")).version, why="a test model"
    )
    linear = Linear(np.array([1.0, 2.0, 3.0]), 0.5)
    registry.set_alias(
        "linear", "champion", registry.register("linear", linear).version, why="a test model"
    )
    return registry


def _register(reg: Registry, name: str, obj: Any) -> int:
    version = reg.register(name, obj).version
    reg.set_alias(name, "champion", version, why="a test model")
    return version


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("single_2d", "got shapes (1, 3) and (1, 3)"),
        ("short_scores", "got shapes (3,) and (2,)"),
        ("nan", "got nan at position 1"),
        ("raises", "raised RuntimeError"),
        ("slow", "did not answer the probe within 2.0 s"),  # the default limit
    ],
)
def test_a_model_refused_at_start_is_not_served_and_readyz_says_why(
    reg: Registry, caplog: pytest.LogCaptureFixture, mode: str, reason: str
) -> None:
    _register(reg, "bad", Ranker(mode))
    with (
        caplog.at_level(logging.ERROR, "limelight.serving"),
        running({"recs": "bad@champion", "linear": "linear@champion"}) as app,
    ):
        ready = call(app, "GET", "/readyz")
        assert ready.status_code == 503
        body = ready.json()
        assert body["error"] == "not_ready"
        assert "bad/1 (bad@champion) was refused: " in body["message"]
        refused = body["refused"]["recs"]
        assert (refused["model"], refused["version"], refused["ref"]) == ("bad", 1, "bad@champion")
        assert reason in refused["reason"]
        answer = call(app, "POST", "/v1/recommend", {"user_id": "u0"})
        assert answer.status_code == 503 and answer.json()["error"] == "model_refused"
        assert reason in answer.json()["message"]
        predicted = call(app, "POST", "/v1/predict/linear", {"rows": [[1, 0, 0]]})
        assert predicted.json()["predictions"] == [1.5], "the good model next to it is served"
        assert "limelight_model_refusals_total{" in call(app, "GET", "/metrics").text
    assert any("not serving bad/1" in r.getMessage() for r in caplog.records)


def test_a_refused_alias_move_keeps_the_loaded_version_serving(
    reg: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    with running({"recs": "recs@champion"}) as app:
        models = app.state.service.models
        _register(reg, "recs", Ranker("single_2d"))
        with caplog.at_level(logging.ERROR, "limelight.serving"):
            models.refresh()
            models.refresh()  # the refused version is probed and logged once, not every poll
        assert [r.getMessage() for r in caplog.records if "not serving" in r.getMessage()] == [
            "not serving recs/2 (recs@champion) was refused: for one user and k=3, expected "
            "item ids and scores of shape (n,) with n <= 3, got shapes (1, 3) and (1, 3)"
        ]
        assert call(app, "POST", "/v1/recommend", {"user_id": "u0"}).json()["models"] == {
            "recs": "recs/1"
        }
        ready = call(app, "GET", "/readyz")
        assert ready.status_code == 200, "the worker still serves: recs/1"
        assert ready.json()["refused"]["recs"]["version"] == 2
        assert models.swaps == 0
        _register(reg, "recs", Ranker("good"))
        models.refresh()
        assert call(app, "POST", "/v1/recommend", {"user_id": "u0"}).json()["models"] == {
            "recs": "recs/3"
        }
        assert call(app, "GET", "/readyz").json()["refused"] == {}


def _model_errors(app: Starlette) -> list[str]:
    text = call(app, "GET", "/metrics").text
    return [line for line in text.splitlines() if line.startswith("limelight_model_errors_total{")]


def test_a_model_that_breaks_for_some_users_is_a_502_on_both_batcher_paths(
    reg: Registry,
) -> None:
    _register(reg, "flaky", Ranker("bad_users"))
    with running({"recs": "flaky@champion"}) as app:
        batcher = app.state.service.batcher
        good = recommend(app, [f"good-{i}" for i in range(8)], k=2)
        assert [r.status_code for r in good] == [200] * 8
        assert batcher.batches == 1, "the eight shared one batched call"
        users = [f"bad-{i}" if i % 3 == 0 else f"good-{i}" for i in range(12)]
        mixed = recommend(app, users, k=2)  # the batch raises: asked again user by user
        assert batcher.batches == 1, "no batched answer: the single-call fallback answered"
        for user, response in zip(users, mixed, strict=True):
            if user.startswith("good"):
                assert response.status_code == 200
                assert [it["item_id"] for it in response.json()["items"]] == [0, 1]
            else:
                assert response.status_code == 502, response.text
                assert response.json() == {
                    "error": "model_error",
                    "message": "model flaky/1 failed to answer (ContractError); see the server log",
                    "model": "flaky/1",
                    "exception": "ContractError",
                }
        alone = call(app, "POST", "/v1/recommend", {"user_id": "bad-alone"})
        assert alone.status_code == 502
        errors = _model_errors(app)
        assert len(errors) == 1 and errors[0].endswith('model="flaky",version="1"} 5')


def test_a_model_raising_on_a_string_user_is_a_502_naming_the_exception_not_its_message(
    reg: Registry,
) -> None:
    _register(reg, "ints", Ranker("str_users", knows_users=False))
    with running({"recs": "ints@champion"}) as app:
        answer = call(app, "POST", "/v1/recommend", {"user_id": "alice"})
        assert answer.status_code == 502
        assert answer.json()["exception"] == "TypeError" and answer.json()["model"] == "ints/1"
        assert "alice" not in answer.text, "the exception's message stays in the log"
        assert call(app, "POST", "/v1/recommend", {"user_id": 7}).status_code == 200


def test_failing_predict_and_artwork_models_are_502s(reg: Registry) -> None:
    _register(reg, "fails", FailingPredictor())
    _register(reg, "artwork", FailingPolicy())
    slots = {"recs": "recs@champion", "fails": "fails@champion", "artwork": "artwork@champion"}
    with running(slots) as app:
        predicted = call(app, "POST", "/v1/predict/fails", {"rows": [[1.0]]})
        assert predicted.status_code == 502 and predicted.json()["exception"] == "RuntimeError"
        assert "secret" not in predicted.text
        answer = call(app, "POST", "/v1/recommend", {"user_id": "u0"})
        assert answer.status_code == 502 and answer.json()["model"] == "artwork/1"
        assert len(_model_errors(app)) == 2


def test_k_plus_exclude_beyond_the_catalogue_is_bounded_by_the_models_answer(
    reg: Registry,
) -> None:
    """Ranker states no catalogue and fails past it (``kth out of bounds``): the probe learnt 6."""
    with running({"recs": "recs@champion"}) as app:
        small, whole = recommend(app, ["u0"], k=5, exclude=[0, 1]) + recommend(app, ["u0"], k=1000)
        assert small.status_code == 200, small.text
        assert [it["item_id"] for it in small.json()["items"]] == [2, 3, 4, 5]
        assert [it["item_id"] for it in whole.json()["items"]] == [0, 1, 2, 3, 4, 5]


def test_the_probe_limit_must_be_positive(home: Path) -> None:
    with pytest.raises(InvalidInputError, match="probe_seconds must be positive"):
        create_app({"recs": "recs@champion"}, probe_seconds=0)


def test_openapi_documents_the_502_of_model_calls(reg: Registry) -> None:
    with running({"recs": "recs@champion"}) as app:
        paths = call(app, "GET", "/openapi.json").json()["paths"]
    assert "502" in paths["/v1/recommend"]["post"]["responses"]
    assert "502" in paths["/v1/predict/{model}"]["post"]["responses"]


def test_decided_names_the_one_experiment_that_chose_the_served_model(reg: Registry) -> None:
    _register(reg, "recs", Ranker("good"))  # recs/2 is champion; recs/1 becomes challenger
    reg.set_alias("recs", "challenger", 1)
    metadata = open_store().metadata
    for name in ("first", "second"):  # overlapping: every user is in both, on the same slot
        spec = ExperimentSpec(
            name=name,
            salt=f"salt-{name}",
            variants=(
                Variant("control", 0.5, "recs@champion"),
                Variant("treatment", 0.5, "recs@challenger"),
            ),
        )
        create_experiment(metadata, spec)
        set_experiment_status(metadata, name, "running", allow_overlap=True)  # on purpose
    colour = ExperimentSpec(
        name="colour", salt="c", variants=(Variant("blue", 0.5, "blue"), Variant("red", 0.5, "red"))
    )
    create_experiment(metadata, colour)
    set_experiment_status(metadata, "colour", "running")
    variant_model = {"control": "recs/2", "treatment": "recs/1"}
    with running({"recs": "recs@champion"}) as app:
        answers = [r.json() for r in recommend(app, [f"user-{i}" for i in range(40)], k=1)]
    rows = {row["request_id"]: row for row in open_store().read_events("impressions").to_pylist()}
    disagreeing = 0
    for answer in answers:
        row = rows[answer["request_id"]]
        assert row["experiments"] == ["colour", "first", "second"]
        decided = dict(zip(row["experiments"], row["decided"], strict=True))
        assert not decided["colour"], "a variant that names no model decides nothing"
        assert decided["first"] != decided["second"], "exactly one of them chose the model"
        decider = "first" if decided["first"] else "second"
        assert variant_model[answer["experiments"][decider]] == answer["models"]["recs"]
        disagreeing += answer["experiments"]["first"] != answer["experiments"]["second"]
    assert disagreeing > 0, "some users get different models from the two experiments"


def test_an_experiment_whose_variant_model_is_refused_is_left_out(
    reg: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    reg.set_alias("recs", "challenger", reg.register("recs", Ranker("nan")).version)
    spec = ExperimentSpec(
        name="ab",
        salt="s",
        variants=(
            Variant("control", 0.5, "recs@champion"),
            Variant("treatment", 0.5, "recs@challenger"),
        ),
    )
    metadata = open_store().metadata
    create_experiment(metadata, spec)
    set_experiment_status(metadata, "ab", "running")
    with (
        caplog.at_level(logging.WARNING, "limelight.serving"),
        running({"recs": "recs@champion"}) as app,
    ):
        app.state.service.models.refresh()  # a second poll: logged once all the same
        answers = [r.json() for r in recommend(app, [f"user-{i}" for i in range(10)], k=1)]
    assert all(a["models"] == {"recs": "recs/1"} and a["experiments"] == {} for a in answers)
    left_out = [
        r.getMessage() for r in caplog.records if "experiment ab left out" in r.getMessage()
    ]
    assert len(left_out) == 1 and "recs/2 (recs@challenger) was refused" in left_out[0]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_limelight_serve_refuses_a_probe_limit_that_is_not_a_positive_number(
    home: Path, value: str
) -> None:
    from click.testing import CliRunner

    from limelight.cli._main import cli

    args = ["serve", "--model", "recs=recs@champion", "--probe-seconds", value]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "Invalid value for '--probe-seconds'" in result.output
