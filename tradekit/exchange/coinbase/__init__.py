"""Coinbase Advanced Trade adapters: REST and WebSocket feed (async source, sync generated).

The public face: import from here, never from `_async`/`_sync` (generated, internal).

    from tradekit.exchange.coinbase import AsyncCoinbaseRest, CoinbaseRest, Credentials

The adapters are loaded when first asked for (aiohttp, httpcore and websockets with
them), so that the light modules of this package (`wire`, `pacing`, `credentials`), which
the engines use, cost nothing more. `FeedConfig` and `FeedStats` are the async feed's;
the sync feed has generated twins of them in `_sync.feed`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed, FeedConfig, FeedStats
    from tradekit.exchange.coinbase._async.rest import DEFAULT_BASE_URL, AsyncCoinbaseRest
    from tradekit.exchange.coinbase._sync.feed import CoinbaseFeed
    from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
    from tradekit.exchange.coinbase.credentials import Credentials

_HOME = {
    "AsyncCoinbaseRest": "_async.rest",
    "DEFAULT_BASE_URL": "_async.rest",
    "AsyncCoinbaseFeed": "_async.feed",
    "FeedConfig": "_async.feed",
    "FeedStats": "_async.feed",
    "CoinbaseRest": "_sync.rest",
    "CoinbaseFeed": "_sync.feed",
    "Credentials": "credentials",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncCoinbaseFeed",
    "AsyncCoinbaseRest",
    "CoinbaseFeed",
    "CoinbaseRest",
    "Credentials",
    "FeedConfig",
    "FeedStats",
]


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'tradekit.exchange.coinbase' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
