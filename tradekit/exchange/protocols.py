"""The exchange interfaces, sync and async (see `tradekit/exchange/_async/protocols.py`)."""

from tradekit.exchange._async.protocols import (
    AsyncExchangeApi,
    AsyncSimulatedExchange,
    AsyncSimulatedMarket,
    AsyncStopEditor,
)
from tradekit.exchange._sync.protocols import (
    ExchangeApi,
    SimulatedExchange,
    SimulatedMarket,
    StopEditor,
)

__all__ = [
    "AsyncExchangeApi",
    "AsyncSimulatedExchange",
    "AsyncSimulatedMarket",
    "AsyncStopEditor",
    "ExchangeApi",
    "SimulatedExchange",
    "SimulatedMarket",
    "StopEditor",
]
