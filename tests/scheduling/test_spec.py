"""The decorators record a checked spec (nothing else); cron ticks are DST-correct."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from limelight import Flow, InvalidInputError, schedule, step, trigger, trigger_on_finish
from limelight.scheduling import RUN_FINISHED, ScheduleSpec
from limelight.scheduling._spec import spec_of


class Plain(Flow):
    @step
    def start(self) -> None:
        self.next(self.end)

    @step
    def end(self) -> None:
        pass


def _fresh() -> type[Flow]:
    return type("Fresh", (Plain,), {})


def test_decorators_record_metaflows_meanings() -> None:
    daily = schedule(_fresh())
    assert daily._ll_schedule == ScheduleSpec("0 0 * * *", "UTC", False)  # type: ignore[attr-defined]
    hourly = schedule(hourly=True)(_fresh())
    assert hourly._ll_schedule.cron == "0 * * * *"  # type: ignore[attr-defined]
    weekly = schedule(weekly=True, catchup=True)(_fresh())
    assert weekly._ll_schedule.cron == "0 0 * * 0" and weekly._ll_schedule.catchup  # type: ignore[attr-defined]
    cls = schedule(cron="0 3 * * *", timezone="Europe/Amsterdam")(_fresh())
    cls = trigger(event={"name": "new_data", "parameters": {"day": "date"}})(cls)
    cls = trigger_on_finish(flows=["A", "B"], mode="any")(cls)
    spec = spec_of(cls)
    assert spec["schedule"] == {
        "cron": "0 3 * * *",
        "timezone": "Europe/Amsterdam",
        "catchup": False,
    }
    assert spec["triggers"][0]["events"] == [
        {"name": "new_data", "match": {}, "parameters": {"day": "date"}}
    ]
    finish = spec["triggers"][1]
    assert finish["mode"] == "any" and finish["on_finish"] == ["A", "B"]
    assert finish["events"][0] == {
        "name": RUN_FINISHED,
        "match": {"flow": "A", "status": "succeeded"},
        "parameters": {},
    }
    assert spec_of(Plain) == {"schedule": None, "triggers": []}  # the base class is untouched


def test_ticks_follow_the_timezone_across_a_dst_change() -> None:
    spec = ScheduleSpec("0 3 * * *", "Europe/Amsterdam")
    tz = ZoneInfo("Europe/Amsterdam")
    start = datetime(2026, 3, 27, 12, tzinfo=tz).timestamp()  # DST starts on 29 March
    ticks = list(spec.ticks(start, start + 3 * 86400))
    local = [datetime.fromtimestamp(t, tz) for t in ticks]
    assert [(d.day, d.hour) for d in local] == [(28, 3), (29, 3), (30, 3)]
    assert ticks[1] - ticks[0] == 23 * 3600  # the night the clocks go forward is an hour short
    assert ticks[2] - ticks[1] == 24 * 3600
    assert spec.next_tick(start) == ticks[0]


@pytest.mark.parametrize(
    ("decorate", "message"),
    [
        (lambda: schedule(cron="61 * * * *"), "not a valid cron expression"),
        (lambda: schedule(cron="every day"), "not a valid cron expression"),
        (lambda: schedule(cron=""), "cron expression"),
        (lambda: schedule(cron="0 3 * * *", timezone="Mars/Olympus"), "unknown timezone"),
        (lambda: schedule(hourly=True, daily=True), "one of cron="),
        (lambda: schedule(catchup="yes"), "catchup"),  # type: ignore[arg-type]
        (lambda: trigger(), "give event= or events="),
        (lambda: trigger(event=""), "an event is a name"),
        (lambda: trigger(events=[]), "non-empty list"),
        (lambda: trigger(event={"name": "x", "params": {}}), "unknown keys"),
        (lambda: trigger(event={"name": "x", "parameters": {"a": 1}}), "payload"),
        (lambda: trigger(event="x", mode="some"), "mode is 'all' or 'any'"),
        (lambda: trigger_on_finish(flow="not a name"), "class name"),
    ],
)
def test_bad_decorator_arguments_name_the_flow(decorate: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        decorate()(_fresh())  # type: ignore[operator]
    assert "Fresh" in str(info.value)


def test_decorating_something_that_is_not_a_flow_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="decorates a flow class"):
        schedule(daily=True)(int)
