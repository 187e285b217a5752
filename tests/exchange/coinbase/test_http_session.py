"""Both adapters' HTTP sessions (`_compat.HttpSession`: aiohttp async, httpcore sync) answer
the same `Reply` over a real loopback socket: the body decompressed, headers looked up by
lower-case name, failures as `TransportFailed`."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tradekit.exchange.coinbase._async._compat import HttpSession as AsyncHttpSession
from tradekit.exchange.coinbase._sync._compat import HttpSession as SyncHttpSession
from tradekit.exchange.coinbase.common import Reply, TransportFailed

BODY = b'{"price":"60000.01"}'


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/damaged"):
            payload, encoding = b"not gzip at all", "gzip"
        elif "gzip" in (self.headers.get("Accept-Encoding") or ""):
            payload, encoding = gzip.compress(BODY + self.path.encode()), "gzip"
        else:
            payload, encoding = BODY + self.path.encode(), "identity"
        self.send_response(200)
        self.send_header("Content-Encoding", encoding)
        self.send_header("X-RateLimit-Limit", "30")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch(flavor: str, base_url: str, target: str) -> Reply:
    options: dict[str, Any] = dict(ssl_context=None, timeout_s=5.0, headers={}, proxy=None)
    if flavor == "sync":
        session = SyncHttpSession(base_url, **options)
        try:
            return session.request("GET", target, {"Accept": "application/json"}, None)
        finally:
            session.close()

    async def run() -> Reply:
        session = AsyncHttpSession(base_url, **options)
        try:
            return await session.request("GET", target, {"Accept": "application/json"}, None)
        finally:
            await session.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_gzipped_reply_is_decompressed_and_headers_read_by_lower_case_name(
    base_url: str, flavor: str
) -> None:
    reply = fetch(flavor, base_url, "/orders?limit=2")
    assert reply.status == 200
    assert reply.body == BODY + b"/orders?limit=2"
    assert reply.headers.get("x-ratelimit-limit") == "30"


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_damaged_body_or_a_closed_port_is_a_transport_failure(base_url: str, flavor: str) -> None:
    with pytest.raises(TransportFailed):
        fetch(flavor, base_url, "/damaged")
    with pytest.raises(TransportFailed) as refused:
        fetch(flavor, "http://127.0.0.1:9", "/")  # the discard port: nothing listens
    assert not refused.value.certificate_refused
