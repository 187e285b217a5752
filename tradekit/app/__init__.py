"""The application layer: what turns a config into a running portfolio.

The engines (`tradekit.engine`) know pairs, an exchange, a feed and a store; this layer
chooses them from a config (the simulator or Coinbase, the adapters, the store file) and
gives a notebook or the CLI one handle to hold:

    session = await tradekit.open_session(config)   # the simulator starts, if configured
    session.start()                                  # the portfolio runs on this loop
    ...
    await session.close()                            # everything stops

Numbers become text for people in `tradekit.format` (below this layer and the notebooks).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LiveTradingRefused", "Session", "limits_of", "open_session"]


def __getattr__(name: str) -> Any:
    # lazy: importing `tradekit.app` stays light (notebooks import it), and the session
    # pulls in pydantic, the adapters and the simulator
    if name in __all__:
        from tradekit.app import session

        return getattr(session, name)
    raise AttributeError(f"module 'tradekit.app' has no attribute {name!r}")
