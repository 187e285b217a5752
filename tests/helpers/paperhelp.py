"""Shared helpers for the paper exchange's tests (imported by name: no conftest)."""

from __future__ import annotations

from decimal import Decimal

from tradekit.core.events import MarketTrade
from tradekit.exchange.paper import PaperExchange

D = Decimal


def trade(price: str, size: str = "1", product: str = "BTC-USD", ts: int = 0) -> MarketTrade:
    return MarketTrade(product, D(price), D(size), ts)


def fresh() -> PaperExchange:
    """BTC-USD last traded at 100.00; 10,000 USD and 2 BTC available."""
    exchange = PaperExchange(balances={"USD": D("10000"), "BTC": D("2")})
    exchange.advance(trade("100.00", ts=1))
    return exchange
