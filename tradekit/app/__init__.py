"""The application layer: what turns a config into a running portfolio.

The engines (`tradekit.engine`) know pairs, an exchange, a feed and a store; this layer
chooses them from a config (the simulator or Coinbase, the adapters, the store file) and
gives a notebook or the CLI one handle to hold:

    session = await tradekit.open_session(config)   # the simulator starts, if configured
    session.start()                                  # the portfolio runs on this loop
    ...
    await session.close()                            # everything stops

`tradekit.app.format` is the one place numbers become text for people.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LiveTradingRefused", "Session", "limits_of", "open_session"]


def __getattr__(name: str) -> Any:
    # lazy: `tradekit.app.format` is used by the light notebook tables, and the session
    # pulls in pydantic, the adapters and the simulator
    if name in __all__:
        from tradekit.app import session

        return getattr(session, name)
    raise AttributeError(f"module 'tradekit.app' has no attribute {name!r}")
