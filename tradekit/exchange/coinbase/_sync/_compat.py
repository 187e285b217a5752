"""The hand-written difference between the async source and its sync twin (sync side).

Same names as `.._async._compat`, blocking implementations.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from typing import Any

import httpcore
import websockets.sync.client

sleep = time.sleep


def connection_pool(**options: Any) -> httpcore.ConnectionPool:
    """httpcore's connection pool on its own blocking sockets."""
    return httpcore.ConnectionPool(**options)


def wait_for_message(ws: object, timeout: float) -> str | bytes:
    """One message from a websockets connection, or TimeoutError."""
    return ws.recv(timeout=timeout)  # type: ignore[attr-defined,no-any-return]


# websockets >= 17.1 wants `legacy=True` to connect outside a `with` block.
_DIRECT: dict[str, Any] = (
    {"legacy": True}
    if "legacy" in inspect.signature(websockets.sync.client.connect).parameters
    else {}
)


def open_websocket(url: str, **options: Any) -> Any:
    """A connected websockets client connection (closed by the caller)."""
    connect: Any = websockets.sync.client.connect
    return connect(url, **_DIRECT, **options)


CLOSE_WAIT_S = 1.0  # at most this long draining a closing connection


def close_websocket(ws: Any) -> None:
    """Close a websockets connection without waiting out a stalled reader thread.

    websockets' sync `close()` waits for its reader thread to read the server's close
    frame, but that thread pauses while the queue of received messages is full (a feed
    that stopped reading: a reconnect, a close), so the handshake took the whole
    close_timeout (10 s). So the handshake runs in a helper thread while this one drops
    what is still queued (the caller is done with it), which keeps the reader reading up
    to the close frame; bounded by CLOSE_WAIT_S, after which the socket is left to the
    helper's own close_timeout.
    """
    closer = threading.Thread(target=_close_quietly, args=(ws,), name="ws-close", daemon=True)
    closer.start()
    deadline = time.monotonic() + CLOSE_WAIT_S
    while closer.is_alive():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            ws.recv(timeout=min(left, 0.05))
        except TimeoutError:
            continue
        except Exception:  # ConnectionClosed (the goal), or a recv already under way
            closer.join(max(0.0, deadline - time.monotonic()))
            return


def _close_quietly(ws: Any) -> None:
    with contextlib.suppress(Exception):  # closed either way: nothing left to report
        ws.close()
