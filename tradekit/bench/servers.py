"""Loopback servers that benchmarks run in a child process, so the client's figure is not
shared with the server on one interpreter's GIL.

    python -m tradekit.bench.servers sim KEYS_FILE PORT_FILE
    python -m tradekit.bench.servers frames COUNT PORT_FILE

`sim` serves tradekit sim over TLS (rate limits out of the way) with an order to fetch,
and writes its port, the order's id and the CA file to trust; `frames`
serves COUNT pre-serialised Coinbase WebSocket messages to each client that subscribes,
as fast as the socket takes them. Each writes its port to PORT_FILE once listening and
stops by itself when its parent goes away (stdin closes) or after 10 minutes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

LIFETIME_S = 600


def _watch_parent() -> None:
    """End this process when the parent closes our stdin (or after LIFETIME_S)."""

    def wait() -> None:
        sys.stdin.read()
        import os

        os._exit(0)

    threading.Thread(target=wait, daemon=True).start()

    def limit() -> None:
        time.sleep(LIFETIME_S)
        import os

        os._exit(0)

    threading.Thread(target=limit, daemon=True).start()


def serve_sim(keys_file: str, port_file: str) -> None:
    from tradekit.core.events import MarketTrade
    from tradekit.sim.server import SimServer

    with SimServer(
        keys_file=keys_file,
        rate_limit_per_s=1e9,
        public_rate_limit_per_s=1e9,
        tls=True,
        tls_dir=Path(keys_file).parent / "tls",
    ) as s:
        trade = MarketTrade("BTC-USD", Decimal("60000.00"), Decimal("1"), time.time_ns())
        s.call(lambda st: st.advance(trade))
        res = s.call(
            lambda st: st.place_limit_buy("bench-1", "BTC-USD", Decimal("0.01"), Decimal("50000"))
        )
        Path(port_file).write_text(f"{s.port} {res.order_id} {s.ca_file}")
        while s.running:
            time.sleep(0.2)


def frames(count: int) -> list[str]:
    """Alternating market_trades and user messages, sequence_num 0, 1, 2, ..."""
    out = []
    ts = "2026-11-25T09:00:00.000000001Z"
    for seq in range(count):
        if seq % 2:
            cum = f"{(seq % 1000) / 100000:.5f}"
            events = [
                {
                    "type": "update",
                    "orders": [
                        {
                            "order_id": f"o{seq % 50}",
                            "client_order_id": f"c{seq % 50}",
                            "cumulative_quantity": cum,
                            "leaves_quantity": "0",
                            "avg_price": "60000.01",
                            "total_fees": "0.01",
                            "status": "OPEN",
                            "product_id": "BTC-USD",
                            "order_side": "BUY",
                            "order_type": "Limit",
                            "trigger_status": "",
                        }
                    ],
                }
            ]
            channel = "user"
        else:
            events = [
                {
                    "type": "update",
                    "trades": [
                        {
                            "trade_id": str(seq),
                            "product_id": "BTC-USD",
                            "price": f"{60000 + seq % 97}.01",
                            "size": "0.001",
                            "side": "BUY",
                            "time": ts,
                        }
                    ],
                }
            ]
            channel = "market_trades"
        out.append(
            json.dumps(
                {
                    "channel": channel,
                    "client_id": "",
                    "timestamp": ts,
                    "sequence_num": seq,
                    "events": events,
                }
            )
        )
    return out


def encode_frame(text: str) -> bytes:
    """One unmasked server-to-client WebSocket text frame (RFC 6455)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + data


def serve_frames(count: int, port_file: str) -> None:
    """A bare WebSocket server: the handshake, then every frame pre-encoded and written
    in large blocks, so that the server is never what limits the client's figure."""
    import base64
    import hashlib
    import socket

    blob = b"".join(encode_frame(m) for m in frames(count))
    magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    listener = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(listener.getsockname()[1]))
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                break
            request += chunk
        key = ""
        for line in request.decode("latin-1").split("\r\n"):
            if line.lower().startswith("sec-websocket-key:"):
                key = line.split(":", 1)[1].strip()
        accept = base64.b64encode(hashlib.sha1((key + magic).encode()).digest()).decode()
        conn.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        conn.recv(65536)  # the client's subscribe frame(s): content is not needed
        try:
            view = memoryview(blob)
            for start in range(0, len(blob), 1 << 20):
                conn.sendall(view[start : start + (1 << 20)])
            conn.recv(1)  # until the client goes away
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    _watch_parent()
    kind = sys.argv[1]
    if kind == "sim":
        serve_sim(sys.argv[2], sys.argv[3])
    elif kind == "frames":
        serve_frames(int(sys.argv[2]), sys.argv[3])
    else:
        raise SystemExit(f"unknown server {kind!r}")
