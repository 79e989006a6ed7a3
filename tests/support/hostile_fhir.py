"""A FHIR server on loopback that misbehaves on purpose: it trickles, floods, sends gzip bombs,
answers with malformed Bundles or absurdly deep JSON, and links to other hosts.

It runs on its own event loop in a daemon thread (so the app under test, in TestClient's loop,
talks to it over a real socket) and records how many body bytes it managed to send, which is
what a byte cap must keep small. The base URL selects the behaviour: `http://127.0.0.1:PORT/<mode>`.
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import orjson

EMPTY_BUNDLE = {"resourceType": "Bundle", "type": "searchset", "entry": []}


@cache
def gzip_bomb(expanded_bytes: int) -> bytes:
    """Valid JSON (a Bundle with a huge padding string) that gzip shrinks about 1000-fold."""
    head = b'{"resourceType":"Bundle","type":"searchset","entry":[],"pad":"'
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    out = [compressor.compress(head)]
    block = b"a" * (1 << 20)
    for _ in range(expanded_bytes >> 20):
        out.append(compressor.compress(block))
    out.append(compressor.compress(b'"}'))
    out.append(compressor.flush())
    return b"".join(out)


def deep_json(depth: int) -> bytes:
    return b'{"resourceType":"Bundle","type":"searchset","entry":[{"resource":' + b"[" * depth + b"]" * depth + b"}]}"


class HostileFhir:
    """See the module docstring; `sent[mode]` counts body bytes written per mode."""

    def __init__(self, huge_bytes: int = 64 << 20, trickle_seconds: float = 12.0) -> None:
        self.huge_bytes = huge_bytes
        self.trickle_seconds = trickle_seconds
        self.sent: dict[str, int] = {}
        self.requests: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()

    def base(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    # ------------------------------------------------------------------ server plumbing

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)  # gather() of no tasks at shutdown asks for the thread's loop
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        if tasks:
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()
        self._stopped.set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                path = request_line.split(b" ")[1].decode()
                self.requests.append(path)
                mode = path.strip("/").split("/")[0]
                await getattr(self, f"_mode_{mode.replace('-', '_')}", self._mode_unknown)(path, writer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    def _head(self, writer: asyncio.StreamWriter, length: int | None, extra: str = "", status: str = "200 OK") -> None:
        headers = f"HTTP/1.1 {status}\r\nContent-Type: application/fhir+json\r\n{extra}"
        headers += f"Content-Length: {length}\r\n" if length is not None else "Connection: close\r\n"
        writer.write(headers.encode() + b"\r\n")

    def _send(self, mode: str, writer: asyncio.StreamWriter, body: bytes) -> None:
        writer.write(body)
        self.sent[mode] = self.sent.get(mode, 0) + len(body)

    def _json(self, mode: str, writer: asyncio.StreamWriter, payload: object) -> None:
        body = orjson.dumps(payload)
        self._head(writer, len(body))
        self._send(mode, writer, body)

    # ------------------------------------------------------------------ behaviours

    async def _mode_unknown(self, path: str, writer: asyncio.StreamWriter) -> None:
        body = b'{"resourceType":"OperationOutcome","issue":[]}'
        self._head(writer, len(body), status="404 Not Found")
        writer.write(body)

    async def _mode_ok(self, path: str, writer: asyncio.StreamWriter) -> None:
        self._json("ok", writer, EMPTY_BUNDLE)

    async def _mode_trickle(self, path: str, writer: asyncio.StreamWriter) -> None:
        """Valid headers at once, then one body byte every 0.25 s: no single read ever times out."""
        body = orjson.dumps(EMPTY_BUNDLE)
        self._head(writer, len(body) + 10_000)
        loop = asyncio.get_running_loop()
        stop = loop.time() + self.trickle_seconds
        while loop.time() < stop:
            self._send("trickle", writer, b" ")
            await writer.drain()
            await asyncio.sleep(0.25)
        raise ConnectionError("trickle over")

    async def _mode_huge(self, path: str, writer: asyncio.StreamWriter) -> None:
        """A body of `huge_bytes` with no Content-Length (read until close), 64 kB at a time."""
        self._head(writer, None)
        self._send("huge", writer, b'{"resourceType":"Bundle","type":"searchset","entry":[],"pad":"')
        chunk = b"a" * 65536
        for _ in range(self.huge_bytes // len(chunk)):
            self._send("huge", writer, chunk)
            await writer.drain()
        self._send("huge", writer, b'"}')
        raise ConnectionError("huge body sent")

    async def _mode_gzip(self, path: str, writer: asyncio.StreamWriter) -> None:
        body = gzip_bomb(self.huge_bytes)
        self._head(writer, len(body), extra="Content-Encoding: gzip\r\n")
        self._send("gzip", writer, body)

    async def _mode_entry5(self, path: str, writer: asyncio.StreamWriter) -> None:
        if "/Patient/" in path:
            self._json("entry5", writer, {"resourceType": "Patient", "id": "pat1", "birthDate": "1950-01-01"})
        else:
            self._json("entry5", writer, {"resourceType": "Bundle", "type": "searchset", "entry": 5, "link": 5})

    async def _mode_deep(self, path: str, writer: asyncio.StreamWriter) -> None:
        body = deep_json(100_000)
        self._head(writer, len(body))
        self._send("deep", writer, body)

    async def _mode_nextout(self, path: str, writer: asyncio.StreamWriter) -> None:
        """A first page with one resource, whose `next` link leaves the server."""
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": "http://attacker.invalid/steal?page=2"}],
            "entry": [{"resource": {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pat1"},
                                    "code": {"text": "first page"}}}],
        }  # fmt: skip
        self._json("nextout", writer, bundle)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> HostileFhir:
        threading.Thread(target=self._run, name="hostile-fhir", daemon=True).start()
        self._ready.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._stopped.wait(5)


@contextmanager
def hostile_fhir(**kwargs: object) -> Iterator[HostileFhir]:
    server = HostileFhir(**kwargs).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
