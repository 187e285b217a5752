"""Any sync exchange behind async methods, for the async engine on the paper exchange.

The paper exchange is in-memory and never blocks, so awaiting it is just a call; this
lets the async engine (and the parity tests) drive the very same matching engine as the
sync one. Attributes that are not callables (`market_seq`, `can_edit_stops`) pass
through; a missing attribute stays missing, so capability checks with `hasattr` hold.
"""

from __future__ import annotations

from typing import Any


class AsyncExchange:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def inner(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            return attr(*args, **kwargs)

        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"AsyncExchange({self._inner!r})"


__all__ = ["AsyncExchange"]
