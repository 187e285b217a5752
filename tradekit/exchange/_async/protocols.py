"""What an exchange adapter is to the engines: one interface and two capabilities.

Written once, async; `tradekit/exchange/_sync/protocols.py` is generated from this file by
`tools/gen_sync.py` (as httpcore does with its interfaces), so the sync and the async
adapters are held to the same methods, line for line. Import them from
`tradekit.exchange.protocols`.

- `AsyncExchangeApi`: place, cancel, look up orders and fills, balances, products: what
  every adapter does (Coinbase REST, the paper exchange, the simulator-driven exchange).
- `AsyncStopEditor`: may move a resting stop in place (`edit_order`), learned per product
  (`can_edit_stops_for`; an edit refused as unsupported turns it off for the pair). The
  engines use it before falling back to cancel-then-place.
- `AsyncSimulatedMarket`: a market the loop itself advances, trade by trade (the paper
  exchange, the simulator's market): `advance` returns the fills a trade caused, and
  `market_seq` counts the trades it has matched (recovery replays from there).

The capabilities are `runtime_checkable`: the engines ask `isinstance(exchange,
AsyncStopEditor)` once, when they are built, and keep the answer typed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, runtime_checkable

from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec
from tradekit.exchange.types import (
    Balance,
    CancelResult,
    EditOutcome,
    ExchangeOrder,
    Fill,
    PlaceResult,
)


class AsyncExchangeApi(Protocol):
    """The orders and the truth about them, on one exchange."""

    async def product(self, product_id: str) -> ProductSpec:
        """Increments and minimum sizes; raises ExchangeError for an unknown product."""
        ...

    async def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit buy. A repeated client_order_id returns the existing order."""
        ...

    async def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit sell (an exit: the kill switch's flatten)."""
        ...

    async def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """A GTC stop-limit SELL with STOP_DIRECTION_STOP_DOWN."""
        ...

    async def cancel_order(self, order_id: str) -> CancelResult: ...

    async def get_order(self, order_id: str) -> ExchangeOrder | None: ...

    async def get_order_by_client_id(self, client_order_id: str) -> ExchangeOrder | None: ...

    async def list_open_orders(self, product_id: str | None = None) -> list[ExchangeOrder]: ...

    async def list_fills(
        self, order_id: str | None = None, product_id: str | None = None
    ) -> list[Fill]: ...

    async def balances(self) -> dict[str, Balance]: ...


@runtime_checkable
class AsyncStopEditor(Protocol):
    """An exchange that may move a resting stop in place (no unprotected gap)."""

    def can_edit_stops_for(self, product_id: str) -> bool:
        """May this product's stops be edited (as far as the adapter has learned)?"""
        ...

    def note_edit_refused(self, product_id: str, reason: str) -> bool:
        """An edit was refused; True when the refusal means "never for this product"."""
        ...

    async def edit_order(
        self,
        order_id: str,
        size: Decimal,
        price: Decimal,
        stop_price: Decimal | None = None,
    ) -> EditOutcome: ...


@runtime_checkable
class AsyncSimulatedMarket(Protocol):
    """A market the engine advances itself, one trade at a time."""

    @property
    def market_seq(self) -> int:
        """Trades matched so far (a restart replays the core up to here)."""
        ...

    async def advance(self, trade: MarketTrade) -> list[Fill]:
        """Match one market trade against the book; the fills it caused."""
        ...


class AsyncSimulatedExchange(AsyncExchangeApi, AsyncSimulatedMarket, Protocol):
    """An exchange whose market runs in process (the paper exchange)."""
