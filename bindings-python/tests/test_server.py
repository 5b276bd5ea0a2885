"""The package against a real ``interlock serve`` (``http://``) over a real SQLite file, started
with a token: the ``token`` option of both clients, ``INTERLOCK_TOKEN`` when none is given,
:class:`interlock.UnauthorizedError` for a wrong or missing one, a client reconnecting after a fork
with its token, and the token kept out of URLs (checked on the wire) and out of the client's
repr. The binary is ``INTERLOCK_SERVER_EXE`` (``scripts/test-python.sh`` builds it)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Server, start_server, stop_server

import interlock
import interlock.aio
from interlock import InterlockError, UnauthorizedError

TOKEN = f"py-test-token-{uuid.uuid4().hex}"
WRONG = f"wrong-token-{uuid.uuid4().hex}"

# Forking a process that has threads (interlock's runtime) is what the fork test does; Python
# 3.12+ warns about any such fork, and filterwarnings=error would turn that into a failure.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:This process \(pid=\d+\) is multi-threaded, use of fork\(\) may lead to "
    r"deadlocks in the child\.:DeprecationWarning"
)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """``interlock serve --token TOKEN`` on a free loopback port over a fresh SQLite file;
    stopped (SIGTERM, then SIGKILL) whatever the test does. The test runs without
    ``INTERLOCK_TOKEN`` unless it sets it."""
    monkeypatch.delenv("INTERLOCK_TOKEN", raising=False)
    server = start_server(tmp_path, TOKEN)
    try:
        yield server
    finally:
        stop_server(server.process)


def test_token_option(server: Server) -> None:
    with interlock.connect(server.url, token=TOKEN) as db:
        assert db.put("k", {"v": 1}, index=0).successful
        entry = db.get("k")
        assert entry is not None and entry.value == {"v": 1}
        with db.lock("printer", ttl=5, timeout=10) as held:
            token = held.fencing_token
            assert token is not None and token > entry.index
            assert [w.token for w in db.lock_queue("printer")] == [token]
        assert db.lock_queue("printer") == []
        # A watch is a long-lived request of its own; it carries the token too.
        watch = db.watch("k", from_index=entry.index)
        try:
            event = watch.next(timeout=10)
            assert event is not None and (event.key, event.index) == ("k", entry.index)
        finally:
            watch.close()


def test_token_option_asyncio(server: Server) -> None:
    async def main() -> None:
        db = await interlock.aio.connect(server.url, token=TOKEN)
        try:
            assert (await db.put("a", [1, 2], index=0)).successful
            entry = await db.get("a")
            assert entry is not None and entry.value == [1, 2]
            async with db.lock("printer", ttl=5, timeout=10) as held:
                assert held.fencing_token is not None and held.fencing_token > entry.index
        finally:
            db.close()
        with pytest.raises(UnauthorizedError):
            await interlock.aio.connect(server.url, token=WRONG)

    asyncio.run(main())


def test_interlock_token_from_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with interlock.connect(server.url, token=TOKEN) as db:
        db.set("k", "from the option")
    monkeypatch.setenv("INTERLOCK_TOKEN", TOKEN)
    with interlock.connect(server.url) as db:
        entry = db.get("k")
        assert entry is not None and entry.value == "from the option"
        assert db.put("k2", 2, index=0).successful
    # The option wins over the environment.
    monkeypatch.setenv("INTERLOCK_TOKEN", WRONG)
    with interlock.connect(server.url, token=TOKEN) as db:
        entry = db.get("k2")
        assert entry is not None and entry.value == 2


def test_wrong_or_missing_token_is_unauthorized(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnauthorizedError) as wrong:
        interlock.connect(server.url, token=WRONG)
    assert isinstance(wrong.value, InterlockError) and isinstance(wrong.value, PermissionError)
    assert wrong.value.kind == "Unauthorized" and not wrong.value.retryable
    assert "token is wrong" in str(wrong.value) and WRONG not in str(wrong.value)

    with pytest.raises(UnauthorizedError) as missing:
        interlock.connect(server.url)
    assert "needs a bearer token" in str(missing.value)

    monkeypatch.setenv("INTERLOCK_TOKEN", WRONG)
    with pytest.raises(UnauthorizedError):
        interlock.connect(server.url)
    assert server.process.poll() is None


def test_forked_child_reconnects_with_the_token(server: Server) -> None:
    db = interlock.connect(server.url, token=TOKEN)
    db.set("parent", 1)
    fd, report = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                entry = db.get("parent")  # reconnects, with the parent's token
                db.set("child", 2)
                Path(report).write_text(json.dumps(None if entry is None else entry.value))
                code = 0
            except BaseException as e:
                Path(report).write_text(json.dumps(f"{type(e).__name__}: {e}"))
            finally:
                os._exit(code)
        deadline = time.monotonic() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung and was killed")
            time.sleep(0.01)
        result = json.loads(Path(report).read_text() or "null")
        assert os.waitstatus_to_exitcode(status) == 0, result
        assert result == 1
    finally:
        os.unlink(report)
    entry = db.get("child")
    assert entry is not None and entry.value == 2
    db.close()


class RecordingProxy:
    """A TCP proxy on a free loopback port in front of `upstream` that records every byte the
    client sends, so a test can read the requests as they went over the wire."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self._upstream = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sent: list[bytearray] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._upstream)
            record = bytearray()
            with self._lock:
                self._sent.append(record)
                self._sockets += [client, upstream]
            threading.Thread(
                target=self._pump, args=(client, upstream, record), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if record is not None:
                    with self._lock:
                        record += data
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def sent(self) -> str:
        """Every byte clients sent, all connections together."""
        with self._lock:
            return "".join(r.decode("latin-1") for r in self._sent)

    def requests(self) -> list[tuple[str, dict[str, list[str]], str]]:
        """The complete requests clients sent: each as its request line, its headers (lower-case
        names) and its body. Bodies have a Content-Length (as reqwest sends them)."""
        with self._lock:
            records = [bytes(r) for r in self._sent]
        parsed: list[tuple[str, dict[str, list[str]], str]] = []
        for record in records:
            while b"\r\n\r\n" in record:
                head, rest = record.split(b"\r\n\r\n", 1)
                line, *fields = head.decode("latin-1").split("\r\n")
                headers: dict[str, list[str]] = {}
                for field in fields:
                    name, value = field.split(":", 1)
                    headers.setdefault(name.strip().lower(), []).append(value.strip())
                length = int(headers.get("content-length", ["0"])[0])
                if len(rest) < length:
                    break
                parsed.append((line, headers, rest[:length].decode("latin-1")))
                record = rest[length:]
        return parsed

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()


def test_token_stays_out_of_urls_and_repr(server: Server) -> None:
    proxy = RecordingProxy(server.url)
    try:
        db = interlock.connect(proxy.url, token=TOKEN, max_value_bytes=4096)
        db.set("k", "v")
        with db.lock("printer", ttl=5, timeout=10):
            pass
        for shown in (repr(db), str(db), db.url):
            assert TOKEN not in shown
        assert db.url == f"{proxy.url}?max_value_bytes=4096"
        db.close()

        adb = asyncio.run(interlock.aio.connect(proxy.url, token=TOKEN))
        for shown in (repr(adb), str(adb), adb.url):
            assert TOKEN not in shown
        adb.close()

        sent = proxy.sent()
        requests = proxy.requests()
        assert any(line.startswith("POST /v1/backend/commit ") for line, _, _ in requests), sent
        for line, headers, body in requests:
            # Every request carries the token in its Authorization header, and nowhere else.
            assert re.fullmatch(r"[A-Z]+ /\S* HTTP/1\.1", line), line
            assert TOKEN not in line, line
            assert headers.get("authorization") == [f"Bearer {TOKEN}"], (line, headers)
            assert TOKEN not in body, (line, body)
        assert sent.count(TOKEN) == len(requests)
    finally:
        proxy.close()
