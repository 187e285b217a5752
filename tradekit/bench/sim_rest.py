"""`sim_rest`: the simulator's REST round trip, `GET /orders/historical/{id}` over keep-alive.

- sim_get_order_per_s: authenticated requests per second from one httpx client (a fresh
  ES256 JWT signed per request, as Coinbase wants) to a SimServer on loopback, rate limit
  raised out of the way. Client and server share this process (the server in its
  thread), so the figure is end to end on one interpreter: JWT sign + verify, HTTP, the
  order's JSON. `ticks` caps the request count (at most 5,000 per repeat).
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal
from typing import TextIO

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tradekit.bench.figures import Figure, median_rate
from tradekit.core.events import MarketTrade
from tradekit.exchange.types import PlaceResult
from tradekit.sim.server import SimServer
from tradekit.sim.state import SimState

MAX_REQUESTS = 5_000
API = "/api/v3/brokerage"


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    count = max(50, min(ticks, MAX_REQUESTS))
    with SimServer(rate_limit_per_s=1e9) as server:
        key = serialization.load_pem_private_key(server.private_key_pem.encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)

        def place(st: SimState) -> PlaceResult:
            st.advance(MarketTrade("BTC-USD", Decimal("60000.00"), Decimal("1"), time.time_ns()))
            return st.place_limit_buy("bench", "BTC-USD", Decimal("0.01"), Decimal("59000.00"))

        order_id = server.call(place).order_id
        path = f"{API}/orders/historical/{order_id}"
        uri = f"GET {server.host_port}{path}"
        if progress is not None:
            progress.write(f"sim_rest: {count:,} x GET {path} per run\n")
        with httpx.Client(base_url=server.base_url) as client:

            def get_all() -> None:
                for _ in range(count):
                    now = int(time.time())
                    token = jwt.encode(
                        {
                            "sub": server.key_name,
                            "iss": "cdp",
                            "nbf": now,
                            "exp": now + 120,
                            "uri": uri,
                        },
                        key,
                        algorithm="ES256",
                        headers={"kid": server.key_name, "nonce": secrets.token_hex()},
                    )
                    r = client.get(path, headers={"Authorization": f"Bearer {token}"})
                    if r.status_code != 200:
                        raise RuntimeError(f"GET order answered {r.status_code}: {r.text[:200]}")

            get_all()  # warm up: connection, imports, caches
            rate = median_rate(count, get_all, repeat, "get_order", progress)
    return [Figure("sim_get_order_per_s", round(rate), "requests/s")]
