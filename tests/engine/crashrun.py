"""A real trading process for the crash tests: run the demo pair on persisted state.

    python crashrun.py DB PAPER_STATE TICKS [--kill WHERE:WHEN:N] [--volatility V]

WHERE names a moment (see HOOKS), WHEN is `before` or `after` it, N which occurrence
(1 = the first). At that moment the process SIGKILLs itself: no cleanup, no flush, as
a power cut of the process. Without --kill it runs to the end of the path and prints
a JSON summary of the exchange's and the store's final state.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from decimal import Decimal
from typing import Any

from tradekit.core.commands import CancelOrder, PlaceStopLimitSell
from tradekit.core.events import OrderFilled, OrderStatusReport
from tradekit.demo import DemoSetup
from tradekit.store.sqlite import Store

# The moments a crash is tested at: every step of the cancel/replace sequence and of
# fill handling.
HOOKS = {
    "journal-cancel": "the store commits a CancelOrder intent (a stop move begins)",
    "cancel": "the exchange performs the cancel",
    "journal-cancelled": "the store commits the CANCELLED report + the new stop intent",
    "place-stop": "the exchange places the new stop",
    "advance-fill": "the exchange's market fills an order",
    "journal-fill": "the store commits an OrderFilled event",
    "place-exit": "the exchange places an exit limit sell (gap-through, breach)",
}

SETUP = DemoSetup(
    seed=11,
    ticks=0,
    trail_pct=Decimal("0.01"),
    max_entry_wait_s=300,
    volatility=1.5,
    pullback_pct=Decimal("0.005"),
)


class Killer:
    def __init__(self, spec: str | None) -> None:
        self.where, self.when, n = spec.split(":") if spec else ("", "", "0")
        self.n = int(n)
        self.seen: dict[str, int] = {}

    def at(self, where: str, when: str) -> None:
        if where != self.where or when != self.when:
            return
        count = self.seen.get(where + when, 0) + 1
        self.seen[where + when] = count
        if count == self.n:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)


class CrashingExchange:
    def __init__(self, inner: Any, killer: Killer) -> None:
        self._inner = inner
        self._k = killer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def market_seq(self) -> int:
        return int(self._inner.market_seq)

    def advance(self, trade: Any) -> Any:
        fills = self._inner.advance(trade)
        if fills:
            self._k.at("advance-fill", "after")
        return fills

    def cancel_order(self, order_id: str) -> Any:
        self._k.at("cancel", "before")
        res = self._inner.cancel_order(order_id)
        self._k.at("cancel", "after")
        return res

    def place_limit_sell(self, *args: Any) -> Any:
        self._k.at("place-exit", "before")
        res = self._inner.place_limit_sell(*args)
        self._k.at("place-exit", "after")
        return res

    def place_stop_limit(self, *args: Any) -> Any:
        self._k.at("place-stop", "before")
        res = self._inner.place_stop_limit(*args)
        self._k.at("place-stop", "after")
        return res


class CrashingStore(Store):
    killer: Killer

    def record(self, product_id: str, **kw: Any) -> Any:  # type: ignore[override]
        event, commands = kw.get("event"), kw.get("commands", ())
        kinds = []
        if any(isinstance(c, CancelOrder) for c in commands):
            kinds.append("journal-cancel")
        if isinstance(event, OrderStatusReport) and any(
            isinstance(c, PlaceStopLimitSell) for c in commands
        ):
            kinds.append("journal-cancelled")
        if isinstance(event, OrderFilled):
            kinds.append("journal-fill")
        for k in kinds:
            self.killer.at(k, "before")
        seq = super().record(product_id, **kw)
        for k in kinds:
            self.killer.at(k, "after")
        return seq


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("paper")
    ap.add_argument("ticks", type=int)
    ap.add_argument("--kill")
    # a wild market (gaps through stops: exits) instead of the default one
    ap.add_argument("--volatility", type=float)
    args = ap.parse_args()
    killer = Killer(args.kill)
    extra = {} if args.volatility is None else {"volatility": args.volatility}
    setup = DemoSetup(**{**SETUP.__dict__, "ticks": args.ticks, **extra})
    inner = setup.exchange(args.paper)
    exchange = CrashingExchange(inner, killer)
    store = CrashingStore(args.db)
    store.killer = killer
    engine = setup.engine(store, exchange, "crash")  # type: ignore[arg-type]
    engine.run()
    orders = sorted(
        (o.client_order_id, o.status.value, str(o.filled_size), str(o.stop_price))
        for o in inner.list_orders()
    )
    live_stops = [o for o in inner.list_open_orders(setup.product_id) if o.stop_price]
    print(
        json.dumps(
            {
                "pnl": str(store.total_realized_pnl()),
                "closed": len(store.closed_positions()),
                "exits": sum(1 for r in store.journal() if r["type"] == "ExitPlaced"),
                "orders": orders,
                "fills": sorted(f.trade_id for f in inner.list_fills()),
                "live_stops": [(o.client_order_id, str(o.stop_price)) for o in live_stops],
                "position": str(engine.decision.position),
                "balances": {k: str(v.total) for k, v in inner.balances().items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
