"""The interface every exchange implements (the sync flavour; the async one mirrors it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from tradekit.core.money import ProductSpec
from tradekit.exchange.types import Balance, CancelResult, ExchangeOrder, Fill, PlaceResult


class Exchange(Protocol):
    def product(self, product_id: str) -> ProductSpec:
        """Increments and minimum sizes; raises ExchangeError for an unknown product."""

    def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit buy. A repeated client_order_id returns the existing order."""

    def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit sell (an exit: the kill switch's flatten)."""

    def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """A GTC stop-limit SELL with STOP_DIRECTION_STOP_DOWN."""

    def cancel_order(self, order_id: str) -> CancelResult: ...

    def get_order(self, order_id: str) -> ExchangeOrder | None: ...

    def get_order_by_client_id(self, client_order_id: str) -> ExchangeOrder | None: ...

    def list_open_orders(self, product_id: str | None = None) -> list[ExchangeOrder]: ...

    def list_fills(
        self, order_id: str | None = None, product_id: str | None = None
    ) -> list[Fill]: ...

    def balances(self) -> dict[str, Balance]: ...


# Optional capability, detected with getattr: `can_edit_stops: bool` and
# `edit_order(order_id, size, price, stop_price) -> EditResult` move a resting stop in
# place; the engines use it before falling back to cancel-then-place.
