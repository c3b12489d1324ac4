"""Bounds at the connection, before a request reaches the app (service.connections): header
size, the time to send a request head, idle keep-alive connections, open connections per
worker. Against a real server process, with raw sockets (what an attacker sends)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.conftest import start_server, stop_server
from tests.loadgen import tree_rss

ENV = {
    "AE_WORKERS": "1",
    "AE_HEADER_TIMEOUT_S": "1",
    "AE_KEEP_ALIVE_S": "1",
    "AE_MAX_CONNECTIONS": "40",
}


@pytest.fixture(scope="module")
def guarded(trained_store, tmp_path_factory):
    server = start_server(trained_store, tmp_path_factory.mktemp("conn") / "log", ENV)
    yield server
    stop_server(server)


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of one answer (empty on a closed connection)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return 0, b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))  # fmt: skip
        while len(body) < length:
            body += sock.recv(65536)
    except ConnectionResetError:
        return (int(data.split()[1]) if data else 0), b""
    return int(head.split()[1]), body


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (None if it stayed open)."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        data = sock.recv(100)
    except TimeoutError:
        return None
    except ConnectionResetError:
        data = b""
    return time.monotonic() - start if data == b"" else None


HEALTH = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n"


def test_a_header_section_over_the_limit_gets_431_and_the_worker_does_not_grow(guarded):
    before = tree_rss(guarded.proc.pid)
    sock = _connect(guarded)
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: ")
    sent, status = 0, 0
    try:  # stream one header value of up to 64 MiB, as the attack did
        for _ in range(1024):
            sock.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, body = _answer(sock)
    assert status in (431, 0)
    assert sent < 8 * 1024 * 1024  # refused long before the header ended
    grown = tree_rss(guarded.proc.pid) - before
    assert grown < 20 * 1024 * 1024, f"worker grew by {grown / 2**20:.1f} MiB"
    # The refusal itself, with a header just over the limit and nothing after it.
    sock = _connect(guarded)
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 17000 + b"\r\n\r\n")
    status, body = _answer(sock)
    assert status == 431
    assert json.loads(body)["detail"].startswith("the request line and headers are over")
    # A large header under the limit still serves; the service too.
    sock = _connect(guarded)
    sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 12000 + b"\r\n\r\n")
    assert _answer(sock)[0] == 200


@pytest.mark.parametrize("opening", [b"", b"GET /hea", b"POST /reconstruct HTTP/1.1\r\nhost"],
                         ids=["nothing", "half-a-request-line", "half-a-head"])  # fmt: skip
def test_a_connection_without_a_whole_request_head_is_closed(guarded, opening):
    sock = _connect(guarded)
    sock.sendall(opening)
    closed = _closed_within(sock, 5)
    assert closed is not None and 0.8 < closed < 3


def test_an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not(guarded):
    sock = _connect(guarded)
    for _ in range(3):  # requests closer together than the timeouts keep it open
        sock.sendall(HEALTH)
        assert _answer(sock)[0] == 200
        time.sleep(0.5)
    closed = _closed_within(sock, 5)
    assert closed is not None and closed < 2


def test_connections_past_the_bound_get_503_and_the_others_keep_working(guarded):
    held = [_connect(guarded) for _ in range(40)]  # the bound: the next one is one too many
    try:
        for sock in held:
            sock.sendall(b"GET /hea")  # open, and slow to say what they want
        time.sleep(0.2)
        refused = []
        for _ in range(5):
            sock = _connect(guarded)
            sock.sendall(HEALTH)
            refused.append(_answer(sock))
            sock.close()
        statuses = [status for status, _ in refused]
        assert 503 in statuses, statuses
        body = json.loads(next(body for status, body in refused if status == 503))
        assert "AE_MAX_CONNECTIONS" in body["detail"]
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    sock = _connect(guarded)
    sock.sendall(HEALTH)
    assert _answer(sock)[0] == 200


def test_clients_that_go_away_mid_request_leave_no_traceback(guarded):
    paths = [b"/reconstruct", b"/v2/models/mnist-vae.reconstruct/infer", b"/sample"]
    for _ in range(5):
        for path in paths:  # half a body, then gone
            sock = _connect(guarded)
            sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\ncontent-type: "
                         b"application/json\r\ncontent-length: 100000\r\n\r\n{\"images\": [\"")  # fmt: skip
            time.sleep(0.05)
            sock.close()
        sock = _connect(guarded)  # a large asset, and gone before reading it
        sock.sendall(b"GET /docs-assets/swagger-ui-bundle.js HTTP/1.1\r\nhost: x\r\n\r\n")
        sock.close()
    time.sleep(0.5)
    sock = _connect(guarded)
    sock.sendall(HEALTH)
    assert _answer(sock)[0] == 200
    log = guarded.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]


def test_a_100_continue_comes_before_the_body_and_a_head_answer_arrives_whole(guarded):
    """A client that asks `Expect: 100-continue` gets its 100 before it sends the body (curl
    asks it for large bodies), and a HEAD answer (a head, no body bytes) arrives, on one
    keep-alive connection that then answers the next request."""
    sock = _connect(guarded)
    try:
        body = json.dumps({"codes": [[0.0] * 20]}).encode()
        sock.sendall(b"POST /decode HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"expect: 100-continue\r\ncontent-length: " + str(len(body)).encode()
                     + b"\r\n\r\n")  # fmt: skip
        sock.settimeout(5)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        status, answer = _answer(sock)
        assert status == 200 and json.loads(answer)["images"]
        sock.sendall(b"HEAD /health HTTP/1.1\r\nhost: x\r\n\r\n")
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
        sock.sendall(HEALTH)
        assert _answer(sock)[0] == 200
    finally:
        sock.close()
