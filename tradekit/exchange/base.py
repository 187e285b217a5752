"""The interface every exchange implements, by its historical name (`Exchange`, sync).

The protocols themselves live in `tradekit.exchange.protocols` (async source, sync
generated); this module keeps the short name the paper exchange and its users know.
"""

from tradekit.exchange._sync.protocols import ExchangeApi as Exchange

__all__ = ["Exchange"]
