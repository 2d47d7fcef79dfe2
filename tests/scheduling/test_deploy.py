"""Deploying: a snapshot of the code, checked triggers, and clear errors that name the deployment."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli._run import run_cli

from limelight import InvalidInputError, NotFoundError
from limelight.scheduling import (
    delete_deployment,
    deploy,
    get_deployment,
    list_deployments,
    set_paused,
)
from limelight.store import open_store

from ._flows import write_flow


def test_deploy_records_a_snapshot_of_the_code(sched_home: Path, tmp_path: Path) -> None:
    path = write_flow(
        tmp_path, "Nightly", '@schedule(cron="0 3 * * *", timezone="Europe/Amsterdam")'
    )
    deployment = deploy(path)
    assert deployment.name == "Nightly" and deployment.status == "active"
    assert deployment.schedule is not None and deployment.schedule.timezone == "Europe/Amsterdam"
    original = path.read_text()
    path.write_text("this is not python any more")
    assert get_deployment("Nightly").source(open_store()) == original
    branch = deploy(write_flow(tmp_path, "Nightly", "@schedule(daily=True)"), branch="exp-1")
    assert branch.name == "Nightly@exp-1" and branch.branch == "exp-1"
    assert [d.name for d in list_deployments()] == ["Nightly", "Nightly@exp-1"]


def test_pause_resume_delete(sched_home: Path, tmp_path: Path) -> None:
    deploy(write_flow(tmp_path, "Up", '@trigger(event="x")'))
    deploy(write_flow(tmp_path, "Down", '@trigger_on_finish(flow="Up")'))
    assert set_paused("Up", True).status == "paused"
    assert set_paused("Up", False).status == "active"
    with pytest.raises(InvalidInputError, match="Down fire"):
        delete_deployment("Up")  # Down depends on it
    delete_deployment("Down")
    delete_deployment("Up")
    with pytest.raises(NotFoundError, match="no deployment 'Up'"):
        get_deployment("Up")


def test_trigger_on_a_flow_that_is_not_deployed(sched_home: Path, tmp_path: Path) -> None:
    path = write_flow(tmp_path, "Down", '@trigger_on_finish(flow="Missing")')
    with pytest.raises(
        InvalidInputError, match=r"deployment Down: .*Missing, which is not deployed"
    ):
        deploy(path)
    assert list_deployments() == []  # nothing recorded


def test_a_cycle_of_triggers_is_found_at_deploy_time(sched_home: Path, tmp_path: Path) -> None:
    deploy(write_flow(tmp_path, "A", '@trigger(event="start_a")'))
    deploy(write_flow(tmp_path, "B", '@trigger_on_finish(flow="A")'))
    again = write_flow(tmp_path, "A", '@trigger_on_finish(flow="B")')
    with pytest.raises(InvalidInputError, match=r"deployment A: .*cycle \(A -> B -> A"):
        deploy(again)
    assert get_deployment("A").spec["triggers"][0]["events"][0]["name"] == "start_a"  # unchanged


def test_mapped_parameters_must_exist(sched_home: Path, tmp_path: Path) -> None:
    path = write_flow(
        tmp_path,
        "Mapped",
        '@trigger(event={"name": "new_data", "parameters": {"dayz": "date"}})',
        params='day = Param(default="")',
    )
    with pytest.raises(InvalidInputError, match=r"deployment Mapped: .*'dayz'.*parameters: day"):
        deploy(path)


def test_a_file_that_does_not_import_is_not_deployed(sched_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("import no_such_module_here\n")
    with pytest.raises(InvalidInputError, match=r"does not import.*no_such_module_here"):
        deploy(path)
    with pytest.raises(InvalidInputError, match="branch name"):
        deploy(write_flow(tmp_path, "Fine"), branch="no spaces")


def test_cli_deploy_list_show_pause_publish_and_bad_input(
    sched_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_flow(tmp_path, "Hourly", "@schedule(hourly=True)")
    code, out, _ = run_cli(capsys, "deploy", str(path))
    assert code == 0 and "deployed Hourly" in out and "0 * * * *" in out
    code, out, _ = run_cli(capsys, "deployments", "list")
    assert code == 0 and "Hourly" in out and "active" in out
    assert run_cli(capsys, "deployments", "pause", "Hourly")[0] == 0
    code, out, _ = run_cli(capsys, "deployments", "show", "Hourly")
    assert code == 0 and "(paused)" in out
    code, out, _ = run_cli(capsys, "publish", "new_data", "--payload", '{"date": "2026-12-01"}')
    assert code == 0 and "published new_data #" in out
    for args, message in [
        (("publish", "new_data", "--payload", "{not json"), "--payload is not JSON"),
        (("publish", "new_data", "--payload", "[1, 2]"), "JSON object"),
        (("publish", "bad name!", "--payload", "{}"), "not an event name"),
        (("deployments", "show", "Nope"), "no deployment 'Nope'"),
        (("deployments", "delete", "Nope"), "no deployment 'Nope'"),
        (("deploy", str(tmp_path / "missing.py")), "no such file"),
        (("deploy", str(path), "--branch", "a b"), "branch name"),
        (("scheduler", "--poll", "0"), "--poll"),
    ]:
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and message in err, (args, err)


def test_cli_scheduler_once_fires_what_is_due_and_waits_for_its_runs(
    sched_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from limelight.scheduling import recent_firings

    assert (
        run_cli(capsys, "deploy", str(write_flow(tmp_path, "OnGo", '@trigger(event="go")')))[0] == 0
    )
    assert run_cli(capsys, "publish", "go")[0] == 0
    code, out, _ = run_cli(capsys, "scheduler", "--once", "--name", "cli-test")
    assert code == 0 and "fired 1 firing(s)" in out
    (firing,) = recent_firings("OnGo")
    assert firing.status == "succeeded" and firing.run is not None
    code, out, _ = run_cli(capsys, "scheduler", "--once", "--name", "cli-test")
    assert code == 0 and "fired 0 firing(s)" in out
