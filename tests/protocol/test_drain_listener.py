"""Issue 21, finding 6, under `--workers 2`: the drain stops the kernel taking new connections before
its last sweep of the listen backlog. Closing a listener resets every connection still waiting in
its backlog; one that completed its handshake between the last worker's sweep and its close was
reset (4 calls in ~209,000, in 4 of 90 drains, before this). `refuse_new_connections` makes the
kernel drop new connection requests (the client's retry, 1 s later, finds the listener closed:
refused), while a connection already waiting is still accepted and answered. Raw sockets on loopback.
"""

from __future__ import annotations

import socket
import sys

import pytest

from cds_service.protocol.server import refuse_new_connections

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the listener filter is Linux's")


def test_after_the_drain_begins_no_new_connection_reaches_the_backlog_and_a_waiting_one_is_still_served() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        address = listener.getsockname()
        waiting = socket.create_connection(address, timeout=5)
        assert refuse_new_connections(listener)
        late = socket.socket()
        late.settimeout(0.3)
        with pytest.raises(TimeoutError):  # its request was dropped: it is not in the backlog
            late.connect(address)
        late.close()
        listener.setblocking(False)
        conn, _ = listener.accept()  # the connection that was already waiting
        with pytest.raises(BlockingIOError):  # and nothing else
            listener.accept()
        with conn, waiting:
            waiting.sendall(b"ping")
            conn.settimeout(5)
            assert conn.recv(4) == b"ping"
            conn.sendall(b"pong")  # accepted connections inherit the filter: their traffic still flows
            assert waiting.recv(4) == b"pong"
