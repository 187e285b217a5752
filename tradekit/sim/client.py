"""Drive `tradekit sim`'s market from a client, so a sync engine can run on it tick by tick.

A real exchange's market moves by itself; the simulator's can be driven instead (its
admin API, loopback only and with its admin token: `POST /sim/admin/price` prints one
trade and answers the fills it caused). `DrivenExchange` joins that to a Coinbase
adapter: every order goes through the real REST API with JWTs, and the engine advances
the market exactly as it does on the paper exchange. That is how `tradekit demo
--exchange sim` gives the same result as the paper demo, over real sockets.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

import httpx

from tradekit.core.events import MarketTrade
from tradekit.exchange.coinbase import wire
from tradekit.exchange.types import ExchangeError, Fill
from tradekit.sim.admin import ADMIN_TOKEN_HEADER

ADMIN = "/sim/admin"


class SimMarket:
    """The simulator's market, advanced one printed trade at a time."""

    def __init__(
        self,
        base_url: str,
        *,
        admin_token: str,
        ca_file: str | None = None,
        timeout_s: float = 10.0,
    ):
        """`admin_token`: the simulator's (`SimServer.admin_token`, or the file beside its
        key file, `<key file>.admin-token`)."""
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_file) if base_url.startswith("https") else True
        )
        self._client = httpx.Client(
            base_url=base_url,
            verify=verify,
            timeout=timeout_s,
            headers={ADMIN_TOKEN_HEADER: admin_token},
        )
        self._seq: int | None = None

    @property
    def market_seq(self) -> int:
        """Trades the simulator's market has processed (as of its last mutation)."""
        if self._seq is None:
            state = wire.obj(self._get("/state"), "admin state")
            seq = state.get("market_seq")
            if not isinstance(seq, int):
                raise wire.WireError("admin state.market_seq", f"expected an integer: {seq!r}")
            self._seq = seq
        return self._seq

    def advance(self, trade: MarketTrade) -> list[Fill]:
        body = {
            "product_id": trade.product_id,
            "price": wire.plain(trade.price),
            "size": wire.plain(trade.size),
            "ts": trade.ts,
        }
        resp = self._client.post(f"{ADMIN}/price", json=body)
        if resp.status_code != 200:
            raise ExchangeError(f"sim admin price: HTTP {resp.status_code} {resp.text[:200]}")
        reply = wire.obj(resp.json(), "admin price")
        seq = reply.get("market_seq")
        self._seq = seq if isinstance(seq, int) else None
        return [
            wire.fill(f, f"fills[{i}]")
            for i, f in enumerate(wire.items(reply, "fills", "admin price"))
        ]

    def _get(self, path: str) -> Any:
        resp = self._client.get(ADMIN + path)
        if resp.status_code != 200:
            raise ExchangeError(f"sim admin {path}: HTTP {resp.status_code}")
        return resp.json()

    def close(self) -> None:
        self._client.close()


class DrivenExchange:
    """A Coinbase adapter plus the simulator's market: the `Exchange` protocol with the
    `advance`/`market_seq` of a simulated market."""

    def __init__(self, adapter: Any, market: SimMarket) -> None:
        self.adapter = adapter
        self.market = market

    @property
    def market_seq(self) -> int:
        return self.market.market_seq

    def advance(self, trade: MarketTrade) -> list[Fill]:
        return self.market.advance(trade)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)

    def close(self) -> None:
        self.market.close()
        self.adapter.close()


if TYPE_CHECKING:
    from tradekit.exchange.protocols import ExchangeApi, SimulatedMarket

    def _implements_the_protocol(ex: DrivenExchange) -> ExchangeApi:
        return ex  # the adapter's methods, passed through

    def _is_a_simulated_market(ex: DrivenExchange) -> SimulatedMarket:
        return ex
