"""The filter grammar read strictly: escapes, numbers, types and size limits, on SQLite and
PostgreSQL, and the command line's error path. Every bad filter is a FilterError that points at
the offending place, never a crash from the database or the JSON decoder."""

from __future__ import annotations

import string
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limelight.cli import main
from limelight.core.config import Config, resolve_config
from limelight.core.errors import InvalidInputError
from limelight.store import open_store
from limelight.store.schema import metrics, params, runs, tags
from limelight.tracking import FilterError, search_runs
from limelight.tracking._filters import MAX_CLAUSES

FLOWS = ["it's", 'a"b', "back\\slash", "tab\there", "line\nbreak", "café", "smile😀", "Reg"]


def _seed(config: Config) -> dict[str, int]:
    """One run per name in FLOWS (ids 1..8), each with a metric, a param and a tag."""
    now = time.time()
    ids = {flow: i for i, flow in enumerate(FLOWS, start=1)}
    with open_store(config).metadata.begin() as conn:
        conn.execute(
            runs.insert(),
            [
                {"id": i, "flow": f, "kind": "flow", "status": "succeeded", "created_at": now}
                for f, i in ids.items()
            ],
        )
        conn.execute(
            metrics.insert(),
            [
                {"run_id": i, "name": "m", "step": 0, "value": i / 10, "timestamp": now}
                for i in ids.values()
            ],
        )
        conn.execute(
            params.insert(), [{"run_id": i, "name": "p", "value": i} for i in ids.values()]
        )
        conn.execute(tags.insert(), [{"run_id": i, "tag": f"t{i}"} for i in ids.values()])
    return ids


@pytest.fixture
def store_config(db_url: str, tmp_path: Path) -> tuple[Config, dict[str, int]]:
    config = resolve_config(home=tmp_path / "home", db=db_url, cwd=tmp_path, environ={})
    return config, _seed(config)


def _flows(config: Config, where: str) -> list[str]:
    return sorted(r.flow for r in search_runs(where=where, config=config))


@pytest.mark.parametrize(
    ("where", "flow"),
    [
        (r"flow = 'it\'s'", "it's"),
        (r'flow = "it\'s"', "it's"),
        (r'flow = "a\"b"', 'a"b'),
        (r"flow = 'a\"b'", 'a"b'),
        (r"flow = 'back\\slash'", "back\\slash"),
        (r"flow = 'tab\there'", "tab\there"),
        (r"flow = 'line\nbreak'", "line\nbreak"),
        (r"flow = 'caf\u00e9'", "café"),
        (r"flow = 'caf\u00E9'", "café"),
        ("flow = 'café'", "café"),
        (r"flow = 'smile\ud83d\ude00'", "smile😀"),  # a surrogate pair is one character
        ("flow = 'smile😀'", "smile😀"),
    ],
)
def test_quoted_text_takes_the_documented_escapes(
    store_config: tuple[Config, dict[str, int]], where: str, flow: str
) -> None:
    assert _flows(store_config[0], where) == [flow]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (r"flow = '\q'", r"unknown escape \\q"),
        (r"flow = '\u12'", "exactly four hex digits"),
        (r"flow = '\u12g4'", "exactly four hex digits"),
        ("flow = '\\u\u0661\u0662\u0663\u0664'", "exactly four hex digits"),
        (r"flow = '\x41'", r"unknown escape \\x"),
        ("flow = 'a\tb'", r"raw control character \(U\+0009\) inside quotes"),
        ("flow = 'a\nb'", r"raw control character \(U\+000A\)"),
        ("flow = 'a\x7fb'", r"raw control character \(U\+007F\)"),
        (r"flow = '\udc00'", r"\\udc00 is a lone surrogate"),
        (r"flow = '\ud83d'", "lone surrogate: a low"),
        (r"flow = '\ud83dx'", "lone surrogate: a low"),
        ("flow = '\udc00'", r"lone surrogate \(U\+DC00\)"),  # a raw one, as from a bad argv
        ("metrics.\udc80 > 1", r"lone surrogate \(U\+DC80\)"),
        (r"flow = '\u0000'", "NUL"),
        ("flow = 'a\x00b'", "NUL"),
        ("flow = 'open", "never closed"),
        ('flow = "open', "never closed"),
        ("flow = 'ends in a backslash\\'", "never closed"),
        ("metrics.`a\tb` > 1", r"control character \(U\+0009\) in a name"),
        ("metrics.`ndcg@10 > 1", "never closed"),
    ],
)
def test_bad_quoted_text_is_a_filter_error(
    store_config: tuple[Config, dict[str, int]], where: str, message: str
) -> None:
    with pytest.raises(FilterError, match=message) as caught:
        search_runs(where=where, config=store_config[0])
    assert "^" in str(caught.value)
    str(caught.value).encode("utf-8")  # printable: no lone surrogate reaches a terminal


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("id = 9223372036854775808", "does not fit in 64 bits"),
        ("id = -9223372036854775809", "does not fit in 64 bits"),
        ("metrics.m > 99999999999999999999", "does not fit in 64 bits"),
        ("params.p = 9223372036854775808", "does not fit in 64 bits"),
        ("id = " + "9" * 5000, "a number of 5000 characters; at most 100"),
        ("metrics.m > 0." + "1" * 200, "a number of 202 characters"),
        ("metrics.m > 1e999", "too large for a float"),
        ("id = \u0661", "'\u0661' is not an ASCII digit"),
        ("id = ²", "'²' is not an ASCII digit"),
        ("id = 1\u0661", "'\u0661' is not an ASCII digit"),
        ("metrics.m > \u0660.5", "'\u0660' is not an ASCII digit"),
        ("id < true", "id is a number; compare it with a number"),
        ("id = 'one'", "id is a number"),
        ("created_at > 'yesterday'", "created_at is a number"),
        ("Status = 3", "quote the value"),
        ("metrics.m > false", "compare it with a number"),
    ],
)
def test_bad_numbers_and_types_are_filter_errors(
    store_config: tuple[Config, dict[str, int]], where: str, message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        search_runs(where=where, config=store_config[0])


def test_numbers_at_the_edges_of_int64_are_compared(
    store_config: tuple[Config, dict[str, int]],
) -> None:
    config, ids = store_config
    assert _flows(config, "id = 9223372036854775807") == []
    assert len(_flows(config, "id > -9223372036854775808")) == len(ids)
    assert _flows(config, "params.p >= 8 and metrics.m < 9223372036854775807") == ["Reg"]
    assert _flows(config, "id = 2.0") == ['a"b']


def test_many_clauses_give_the_right_answer_up_to_the_limit_then_a_clear_error(
    store_config: tuple[Config, dict[str, int]],
) -> None:
    config, ids = store_config
    # every run but the first passes each clause, so the answer is known
    many = " and ".join(f"metrics.m > 0.1 and id != {-k}" for k in range(MAX_CLAUSES // 2))
    assert len(_flows(config, many)) == len(ids) - 1
    with pytest.raises(FilterError, match=f"at most {MAX_CLAUSES} comparisons"):
        search_runs(where=many + " and id > 0", config=config)
    with pytest.raises(FilterError, match=f"at most {MAX_CLAUSES} comparisons"):
        search_runs(where=" and ".join(["id>0"] * 2000), config=config)
    with pytest.raises(FilterError, match="at most 20000 are accepted"):
        search_runs(where=" and ".join(["id = 1"] * 2000), config=config)


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ("colour", "cannot sort by 'colour'"),
        ("metrics.a b desc", "cannot sort by"),
        ("metrics.`a desc", "never closed"),
        ("id sideways", "cannot sort by"),
        ("metrics.\udc00", "lone surrogate"),
        ("", "cannot sort by"),
    ],
)
def test_bad_orderings_are_filter_errors(
    store_config: tuple[Config, dict[str, int]], order: str, message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        search_runs(order_by=order, config=store_config[0])


def test_orderings_take_backticks_and_a_direction(
    store_config: tuple[Config, dict[str, int]],
) -> None:
    config, ids = store_config
    found = search_runs(order_by="metrics.`m` desc", config=config)
    assert [r.id for r in found] == sorted(ids.values(), reverse=True)
    assert [r.id for r in search_runs(order_by="params.p ASC", config=config)] == sorted(
        ids.values()
    )


@pytest.mark.parametrize(
    ("argument", "value"), [("flow", "a\udcffb"), ("tag", "\x00"), ("status", "\ud800")]
)
def test_search_arguments_no_database_can_compare_are_refused(
    store_config: tuple[Config, dict[str, int]], argument: str, value: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"{argument} holds"):
        search_runs(config=store_config[0], **{argument: value})  # type: ignore[arg-type]


_PIECES = [
    "metrics.m", "params.p", "metrics.`x y`", "id", "flow", "tag", "status", "created_at",
    "kind", " and ", " ", "=", "==", "!=", "<", "<=", ">", ">=", "'", '"', "\\", "\\u", "\\n",
    "`", "0", "1", "-", ".", "e", "9223372036854775808", "true", "false", "d800", "\t", "\x00",
    "\u0661", "²", "é", "\udc00", "😀",
]  # fmt: skip
_ANY_CHAR = st.characters(codec=None, exclude_categories=())


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_PIECES),
            st.text(_ANY_CHAR, max_size=3),
            st.text(string.printable, max_size=4),
        ),
        max_size=12,
    ).map("".join)
)
def test_any_text_is_a_result_or_a_filter_error(
    tmp_path_factory: pytest.TempPathFactory, where: str
) -> None:
    config = _random_store(tmp_path_factory)
    try:
        search_runs(where=where, config=config)
    except FilterError as exc:
        assert str(exc)
    try:
        search_runs(order_by=where, config=config)
    except FilterError as exc:
        assert str(exc)


_STORES: dict[int, Config] = {}


def _random_store(factory: pytest.TempPathFactory) -> Config:
    """One seeded SQLite store for every example of the property test (made on first use)."""
    if not _STORES:
        home = factory.mktemp("filters-property")
        _STORES[0] = resolve_config(home=home, cwd=home, environ={})
        _seed(_STORES[0])
    return _STORES[0]


@pytest.mark.parametrize(
    "args",
    [["--limit", "9223372036854775808"], ["--limit", "0"], ["--sort", "metrics.`a"]],
)
def test_limelight_runs_refuses_a_bad_limit_or_sort(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["runs", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (r"flow = '\q'", r"unknown escape \q"),
        ("id = 9223372036854775808", "does not fit in 64 bits"),
        ("id < true", "id is a number"),
        ("id = \u0661", "is not an ASCII digit"),
    ],
)
def test_limelight_runs_where_prints_the_error_and_exits_non_zero(
    home: Path, capsys: pytest.CaptureFixture[str], where: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--where", where])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "^" in err
    assert "Traceback" not in err
