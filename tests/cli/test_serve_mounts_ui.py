"""``limelight serve`` mounts the dashboard under /ui, next to the API."""

from __future__ import annotations

from pathlib import Path

import httpx

from limelight.core.config import resolve_config
from limelight.registry import Registry
from limelight.serving import serve_in_background
from limelight.ui import create_app as dashboard


def test_dashboard_is_mounted_under_ui_beside_the_api(home: Path) -> None:
    registry = Registry()
    registry.register("m", {"weights": [1, 2]})
    registry.set_alias("m", "champion", 1, why="a test model")
    with serve_in_background(
        {"m": "m@champion"}, config=resolve_config(), in_process=True, mounts={"/ui": dashboard}
    ) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        page = httpx.get(server.url + "/ui/models")
        assert page.status_code == 200
        assert 'href="/ui/runs"' in page.text and ">m<" in page.text
        assert httpx.get(server.url + "/ui/").headers["location"] == "/ui/runs"


def test_a_mounted_app_is_built_once_on_its_first_request(home: Path) -> None:
    import threading

    from starlette.responses import PlainTextResponse

    registry = Registry()
    registry.register("m", {"weights": [1, 2]})
    registry.set_alias("m", "champion", 1, why="a test model")
    built: list[str | None] = []
    lock = threading.Lock()

    def factory(config: object, token: str | None) -> object:
        with lock:
            built.append(token)

        async def app(scope: dict, receive: object, send: object) -> None:
            await PlainTextResponse(scope["path"])(scope, receive, send)  # type: ignore[arg-type]

        return app

    with serve_in_background(
        {"m": "m@champion"}, config=resolve_config(), in_process=True, mounts={"/x": factory}
    ) as server:
        assert httpx.get(server.url + "/readyz").status_code == 200
        assert built == [], "nothing is built before a request under its path"
        threads = [
            threading.Thread(target=httpx.get, args=(f"{server.url}/x/page{i}",)) for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert httpx.get(server.url + "/x/again").text.endswith("/again")
    assert built == [None], "built once, with the server's token"


def test_the_serving_token_guards_the_dashboard_too(home: Path) -> None:
    import base64

    registry = Registry()
    registry.register("m", {"weights": [1, 2]})
    registry.register("m", {"weights": [3, 4]})
    registry.set_alias("m", "champion", 1, why="a test model")
    basic = "Basic " + base64.b64encode(b"anyone:s3cret").decode()
    with serve_in_background(
        {"m": "m@champion"},
        config=resolve_config(),
        in_process=True,
        token="s3cret",
        mounts={"/ui": dashboard},
    ) as server:
        ui = server.url + "/ui"
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": "Basic !!"}):
            page = httpx.get(ui + "/models", headers=headers)
            assert page.status_code == 401, (headers, page.text)
            assert page.headers["www-authenticate"].startswith("Basic")
            assert httpx.get(server.url + "/v1/models", headers=headers).status_code == 401
        move = httpx.post(ui + "/models/m/alias", data={"alias": "champion", "version": "2"})
        assert move.status_code == 401 and "LIMELIGHT_TOKEN" in move.json()["message"]
        assert registry.get("m@champion").version == 1, "the refused write changed nothing"
        for good in ("Bearer s3cret", basic):
            page = httpx.get(ui + "/models", headers={"authorization": good})
            assert page.status_code == 200 and ">m<" in page.text
        api = httpx.get(server.url + "/v1/models", headers={"authorization": "Bearer s3cret"})
        assert api.status_code == 200
