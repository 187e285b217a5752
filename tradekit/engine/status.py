"""A portfolio's pairs at a glance: their status, what rests on the exchange, and what
a stopped run leaves in place (exact Decimals; people see them through `format`)."""

from __future__ import annotations

from collections.abc import Mapping

from tradekit.core.decision import DecisionEngine
from tradekit.core.orders import Order
from tradekit.engine._async.driver import AsyncPairDriver
from tradekit.engine.health import PairHealth
from tradekit.store.sqlite import Store

__all__ = ["left_in_place", "pair_status", "resting_orders"]


def resting_orders(drivers: Mapping[str, AsyncPairDriver]) -> list[tuple[str, Order, str]]:
    """What this run has on the exchange (as far as it knows), and why:
    (product_id, order, why) for every order not known to be over."""
    out = []
    for pid, driver in drivers.items():
        d = driver.decision
        for order in d.pending_orders():
            if order is d.stop:
                why = "the stop of the position held"
            elif order is d.exit:
                why = "the exit of the position held"
            elif order is d.entry:
                status = order.status.value
                if "CANCEL" in status:
                    why = "an entry whose cancel is unanswered: it may still rest"
                elif status == "SUBMIT_UNKNOWN":
                    why = "an entry whose placement is unanswered: it may rest"
                else:
                    why = "an entry, kept (keep_entries)"
            else:
                why = f"an order in doubt ({order.status.value})"
            out.append((pid, order, why))
    return out


def left_in_place(drivers: Mapping[str, AsyncPairDriver]) -> str:
    """What a stopped run leaves on the exchange, pair by pair, in one line."""
    parts = []
    for pid, driver in drivers.items():
        d = driver.decision
        pos = d.position
        if pos is None or pos.open_size <= 0:
            continue
        stop = d.stop
        where = (
            f"stop {stop.stop_price} / {stop.limit_price} ({d.protection_state.value})"
            if stop is not None
            else d.protection_state.value
        )
        parts.append(f"{pid} {pos.open_size} held, {where}")
    return "left in place: " + ("; ".join(parts) if parts else "no open position")


def pair_status(d: DecisionEngine, store: Store, health: PairHealth) -> dict[str, object]:
    """What one pair is doing: trading state, phase, protection, last price, open
    size, stop trigger and limit, distance from the last price to the stop (a
    fraction of the price), realized P&L (closed positions, fees included) and
    unrealized P&L (the open position marked at the last price, its fees included).
    Exact Decimals; `product` is the pair's ProductSpec (its increments)."""
    pos = d.position
    last = d.last_price
    open_size = None if pos is None else pos.open_size
    trigger = None if pos is None else pos.stop_trigger
    distance = None
    if trigger is not None and last:
        distance = (last - trigger) / last
    unrealized = None
    if pos is not None and last is not None:
        unrealized = pos.proceeds + pos.open_size * last - pos.cost - pos.fees
    return {
        "product_id": d.product_id,
        "state": d.trading_state.value,
        "phase": d.phase.value,
        "protection": d.protection_state.value,
        "last_price": last,
        "last_ts": d.last_ts or None,
        "open_size": open_size,
        "stop": trigger,
        "stop_limit": None if pos is None else pos.stop_limit,
        "stop_distance": distance,
        "realized_pnl": store.total_realized_pnl(d.product_id),
        "unrealized_pnl": unrealized,
        "degraded": health.degraded,
        "product": d.product,
    }
