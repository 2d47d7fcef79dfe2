"""A connection that sends no request head, or half of one, is closed after the header timeout.

Real sockets against live servers on 127.0.0.1: uvicorn's two HTTP protocols behind the same
wrapper, ``limelight serve`` in process, and ``limelight ui`` as a subprocess.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.serving.conftest import MODELS

from limelight.core.errors import InvalidInputError
from limelight.registry import Registry
from limelight.serving import bind_socket, serve_in_background
from limelight.serving._http import head_deadline_protocol, uvicorn_config

TIMEOUT = 0.5
WAIT = 15.0  # a socket that is still open after this long was not closed by the server
HEAD = b"GET /hello HTTP/1.1\r\nhost: x\r\n"
CLI = [sys.executable, "-c", "import sys; from limelight.cli import main; sys.exit(main())"]


async def hello(scope: dict, receive: object, send: object) -> None:
    """A tiny ASGI app that reads the whole body and answers its size."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":  # type: ignore[operator]
            await send({"type": "lifespan.startup.complete"})  # type: ignore[operator]
        await send({"type": "lifespan.shutdown.complete"})  # type: ignore[operator]
        return
    size, more = 0, True
    while more:
        message = await receive()  # type: ignore[operator]
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send(  # type: ignore[operator]
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})  # type: ignore[operator]


@pytest.fixture(params=["httptools", "h11"])
def address(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """``hello`` served by uvicorn with one of its protocols wrapped by the head deadline."""
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    base = HttpToolsProtocol if request.param == "httptools" else H11Protocol
    config = uvicorn_config(hello, header_timeout=TIMEOUT, graceful_seconds=1)
    config.http = head_deadline_protocol(base, TIMEOUT)
    server = uvicorn.Server(config)
    sock = bind_socket()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.01)
    yield sock.getsockname()[:2]
    server.should_exit = True
    thread.join(10)
    sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes ``sock`` (reads end) before WAIT seconds pass."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def response(sock: socket.socket) -> bytes:
    sock.settimeout(WAIT)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    return data


def test_an_idle_connection_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        assert closed_by_server(sock)


def test_half_a_head_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(HEAD)
        assert closed_by_server(sock)


def test_a_head_trickled_byte_by_byte_is_closed(address: tuple[str, int]) -> None:
    """The deadline runs from the start of the head: each byte does not buy more time."""
    with socket.create_connection(address) as sock:
        sock.settimeout(WAIT)
        deadline = time.monotonic() + WAIT
        try:
            for byte in HEAD:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
                assert time.monotonic() < deadline, "the server kept the trickle open"
        except (BrokenPipeError, ConnectionResetError):
            return
        assert closed_by_server(sock)


def test_half_a_head_after_a_keep_alive_response_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(HEAD + b"\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(HEAD)  # this cancels uvicorn's keep-alive timer
        assert closed_by_server(sock)


def test_two_hundred_stalled_connections_are_all_closed(address: tuple[str, int]) -> None:
    socks = [socket.create_connection(address) for _ in range(200)]
    try:
        for i, sock in enumerate(socks):
            if i % 2:
                sock.sendall(HEAD)
            sock.setblocking(False)
        selector = selectors.DefaultSelector()
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        open_ = set(socks)
        deadline = time.monotonic() + WAIT
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    open_.discard(sock)
        selector.close()
        assert not open_, f"{len(open_)} of 200 stalled connections are still open"
    finally:
        for sock in socks:
            sock.close()


def test_a_request_whose_body_comes_later_than_the_head_timeout_is_answered(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n")
        time.sleep(TIMEOUT * 3)  # the head is in: only the app's body timeout applies now
        sock.sendall(b"abcde")
        answer = response(sock)
        assert answer.startswith(b"HTTP/1.1 200")
        # and the connection stays usable for a second request on it
        sock.sendall(HEAD + b"\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200")


def test_limelight_serve_closes_a_stalled_connection_and_answers_others(
    registry: Registry,
) -> None:
    with serve_in_background(MODELS, in_process=True, header_timeout=TIMEOUT) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as stalled:
            stalled.sendall(b"POST /v1/recommend HTTP/1.1\r\nhost: x\r\n")
            with socket.create_connection((host, int(port))) as fine:
                fine.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
                assert response(fine).startswith(b"HTTP/1.1 200")
            assert closed_by_server(stalled)


def test_limelight_ui_closes_a_stalled_connection(home: Path) -> None:
    env = dict(os.environ, LIMELIGHT_HOME=str(home))
    cmd = [*CLI, "ui", "--port", "0", "--header-timeout", str(TIMEOUT)]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            assert "http://" in line, line
            host, port = line.rsplit("http://", 1)[1].strip().rstrip("/").split(":")
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(b"GET /runs HTTP/1.1\r\nhost: x\r\n")
                assert closed_by_server(sock)
        finally:
            process.terminate()
            process.wait(30)


def test_a_header_timeout_that_is_not_a_positive_number_is_refused(registry: Registry) -> None:
    for bad in (0, -1, "10", True, float("nan"), 1e9):
        with pytest.raises(InvalidInputError, match="header_timeout must be"):
            serve_in_background(MODELS, in_process=True, header_timeout=bad)


def test_the_cli_refuses_a_header_timeout_of_zero(home: Path) -> None:
    for command in (["ui"], ["serve", "--model", "recs=recs@champion"]):
        out = subprocess.run(
            [*CLI, *command, "--header-timeout", "0"],
            capture_output=True,
            text=True,
            env=dict(os.environ, LIMELIGHT_HOME=str(home)),
        )
        assert out.returncode == 2 and "--header-timeout" in out.stderr, out.stderr
