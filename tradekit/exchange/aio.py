"""The paper exchange behind async methods, for the async engine and the portfolio.

The paper exchange is in-memory and never blocks, so awaiting it is just a call; this
lets the async engine (and the parity tests) drive the very same matching engine as the
sync one. Every method of the interface is spelled out (no `__getattr__`), so mypy
proves the wrapper is an `AsyncSimulatedExchange`; stop edits pass through when the
wrapped exchange offers them (`StopEditor`), and are refused for every product when not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec
from tradekit.exchange._sync.protocols import SimulatedExchange, StopEditor
from tradekit.exchange.types import (
    Balance,
    CancelResult,
    EditOutcome,
    ExchangeError,
    ExchangeOrder,
    Fill,
    PlaceResult,
)

if TYPE_CHECKING:
    from tradekit.exchange._async.protocols import AsyncSimulatedExchange, AsyncStopEditor


class AsyncExchange:
    """`AsyncExchange(PaperExchange(...))`: the same exchange, awaited."""

    def __init__(self, inner: SimulatedExchange) -> None:
        self._inner = inner

    @property
    def inner(self) -> SimulatedExchange:
        return self._inner

    # -- a simulated market --------------------------------------------------------

    @property
    def market_seq(self) -> int:
        return self._inner.market_seq

    async def advance(self, trade: MarketTrade) -> list[Fill]:
        return self._inner.advance(trade)

    # -- the exchange --------------------------------------------------------------

    async def product(self, product_id: str) -> ProductSpec:
        return self._inner.product(product_id)

    async def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        return self._inner.place_limit_buy(client_order_id, product_id, size, limit_price)

    async def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        return self._inner.place_limit_sell(client_order_id, product_id, size, limit_price)

    async def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        return self._inner.place_stop_limit(
            client_order_id, product_id, size, stop_price, limit_price
        )

    async def cancel_order(self, order_id: str) -> CancelResult:
        return self._inner.cancel_order(order_id)

    async def get_order(self, order_id: str) -> ExchangeOrder | None:
        return self._inner.get_order(order_id)

    async def get_order_by_client_id(self, client_order_id: str) -> ExchangeOrder | None:
        return self._inner.get_order_by_client_id(client_order_id)

    async def list_open_orders(self, product_id: str | None = None) -> list[ExchangeOrder]:
        return self._inner.list_open_orders(product_id)

    async def list_fills(
        self, order_id: str | None = None, product_id: str | None = None
    ) -> list[Fill]:
        return self._inner.list_fills(order_id=order_id, product_id=product_id)

    async def balances(self) -> dict[str, Balance]:
        return self._inner.balances()

    # -- stop edits, when the wrapped exchange has them ----------------------------

    def can_edit_stops_for(self, product_id: str) -> bool:
        inner = self._inner
        return isinstance(inner, StopEditor) and inner.can_edit_stops_for(product_id)

    def note_edit_refused(self, product_id: str, reason: str) -> bool:
        inner = self._inner
        return isinstance(inner, StopEditor) and inner.note_edit_refused(product_id, reason)

    async def edit_order(
        self,
        order_id: str,
        size: Decimal,
        price: Decimal,
        stop_price: Decimal | None = None,
    ) -> EditOutcome:
        inner = self._inner
        if not isinstance(inner, StopEditor):
            raise ExchangeError(f"{inner!r} does not edit orders")
        return inner.edit_order(order_id, size, price, stop_price)

    def __repr__(self) -> str:
        return f"AsyncExchange({self._inner!r})"


if TYPE_CHECKING:

    def _implements_the_protocols(ex: AsyncExchange) -> AsyncSimulatedExchange:
        return ex  # mypy proves the wrapper is an async simulated exchange

    def _edits_stops(ex: AsyncExchange) -> AsyncStopEditor:
        return ex


__all__ = ["AsyncExchange"]
