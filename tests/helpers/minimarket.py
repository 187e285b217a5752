"""A tiny instant exchange for core tests: enough matching to drive the decision engine.

Not the paper exchange (tradekit.exchange.paper): it exists so that the core's tests
depend on nothing but the core. `chaos` delivers each batch of order events shuffled,
some twice, with stale reports mixed in: what a real feed does on a bad day.
"""

from __future__ import annotations

import random
from decimal import Decimal

from tradekit.core import (
    CancelOrder,
    CancelRejected,
    Command,
    DecisionEngine,
    EditRejected,
    EditStopOrder,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
    QueryOrder,
)

FEE = Decimal("0.001")


class MiniMarket:
    def __init__(
        self,
        engine: DecisionEngine,
        chaos: random.Random | None = None,
        partial=False,
        gap_fills=False,
        refuse: float = 0.0,
    ):
        self.engine = engine
        # gap_fills: a triggered stop fills only on a trade at or above its limit (a gap
        # below it leaves it resting); without, as before, it fills at its limit on touch.
        self.gap_fills = gap_fills
        self.refuse = refuse  # the share of sell placements refused for a transient reason
        self.chaos = chaos
        self.partial = partial
        self.orders: dict[str, dict] = {}  # coid -> order
        self.last: Decimal | None = None
        self.n = 0
        self.commands: list[Command] = []
        self.seen_coids: list[str] = []
        self.max_live_stops = 0
        self.sent_reports: list[OrderStatusReport] = []

    def _id(self) -> str:
        self.n += 1
        return f"x{self.n}"

    def execute(self, cmd: Command, ts: int) -> list:
        self.commands.append(cmd)
        if isinstance(cmd, PlaceLimitBuy | PlaceStopLimitSell | PlaceLimitSell):
            self.seen_coids.append(cmd.client_order_id)
            spec = self.engine.product
            problem = spec.size_problem(cmd.size) or spec.notional_problem(
                cmd.size, cmd.limit_price
            )
            if problem:
                return [
                    OrderRejected(cmd.client_order_id, "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", ts)
                ]
            if (
                isinstance(cmd, PlaceStopLimitSell | PlaceLimitSell)
                and self.chaos is not None
                and self.chaos.random() < self.refuse
            ):
                return [OrderRejected(cmd.client_order_id, "UNKNOWN_FAILURE_REASON", ts)]
            if isinstance(cmd, PlaceStopLimitSell | PlaceLimitSell):
                live = [o for o in self.orders.values() if (o["stop"] or o["sell"]) and o["open"]]
                if live:  # the funds are on hold: Coinbase refuses a second sell
                    return [OrderRejected(cmd.client_order_id, "INSUFFICIENT_FUND", ts)]
                if (
                    isinstance(cmd, PlaceStopLimitSell)
                    and self.last is not None
                    and cmd.stop_price >= self.last
                ):
                    return [
                        OrderRejected(
                            cmd.client_order_id, "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE", ts
                        )
                    ]
            oid = self._id()
            self.orders[cmd.client_order_id] = {
                "cmd": cmd,
                "oid": oid,
                "open": True,
                "stop": isinstance(cmd, PlaceStopLimitSell),
                "sell": isinstance(cmd, PlaceLimitSell),
                "triggered": False,
                "filled": Decimal(0),
            }
            self.max_live_stops = max(
                self.max_live_stops,
                sum(1 for o in self.orders.values() if o["stop"] and o["open"]),
            )
            return [OrderAccepted(cmd.client_order_id, oid, ts)]
        if isinstance(cmd, EditStopOrder):
            o = self.orders[cmd.client_order_id]
            if not o["open"] or o["triggered"] or o["filled"]:
                return [EditRejected(cmd.client_order_id, "ORDER_NOT_EDITABLE", ts)]
            if self.last is not None and cmd.stop_price >= self.last:
                return [EditRejected(cmd.client_order_id, "PREVIEW_INVALID_STOP_PRICE", ts)]
            o["cmd"] = PlaceStopLimitSell(
                cmd.client_order_id,
                o["cmd"].product_id,
                cmd.size,
                cmd.stop_price,
                cmd.limit_price,
                ts,
            )
            return [OrderEdited(cmd.client_order_id, cmd.size, cmd.stop_price, cmd.limit_price, ts)]
        if isinstance(cmd, QueryOrder):
            o = self.orders.get(cmd.client_order_id)
            if o is None:
                return []  # never reached the market
            if o["open"]:
                status = OrderStatus.OPEN
            else:
                full = o["filled"] == o["cmd"].size
                status = OrderStatus.FILLED if full else OrderStatus.CANCELLED
            return [
                OrderStatusReport(
                    cmd.client_order_id, status, ts, o["oid"], None, triggered=o["triggered"]
                )
            ]
        assert isinstance(cmd, CancelOrder)
        o = self.orders[cmd.client_order_id]
        if not o["open"]:
            return [CancelRejected(cmd.client_order_id, "ORDER_IS_FULLY_FILLED", ts)]
        if o["triggered"] and self.chaos is not None and self.chaos.random() < 0.5:
            return [CancelRejected(cmd.client_order_id, "ORDER_TRIGGERED", ts)]
        o["open"] = False
        return [OrderStatusReport(cmd.client_order_id, OrderStatus.CANCELLED, ts)]

    def _fill(self, coid: str, o: dict, price: Decimal, ts: int) -> list:
        cmd = o["cmd"]
        remaining = cmd.size - o["filled"]
        size = remaining
        if self.partial and remaining > cmd.size / 2:
            size = (cmd.size / 2).quantize(Decimal("0.00000001"))
        o["filled"] += size
        if o["filled"] == cmd.size:
            o["open"] = False
        self.n += 1
        return [OrderFilled(coid, f"t{self.n}", price, size, (price * size * FEE), ts)]

    def trade(self, price: Decimal, ts: int) -> list:
        self.last = price
        events = []
        for coid, o in list(self.orders.items()):
            if not o["open"]:
                continue
            cmd = o["cmd"]
            if o["sell"]:
                if price >= cmd.limit_price:
                    events += self._fill(coid, o, price, ts)
            elif not o["stop"] and price <= cmd.limit_price:
                events += self._fill(coid, o, cmd.limit_price, ts)
            elif o["stop"]:
                if not o["triggered"] and price <= cmd.stop_price:
                    o["triggered"] = True
                    events.append(
                        OrderStatusReport(
                            coid, OrderStatus.OPEN, ts, o["oid"], o["filled"], triggered=True
                        )
                    )
                if o["triggered"] and price >= cmd.limit_price:
                    events += self._fill(coid, o, price if self.gap_fills else cmd.limit_price, ts)
        return events

    def run(self, prices: list[Decimal], product_id: str = "BTC-USD") -> None:
        for i, price in enumerate(prices):
            ts = (i + 1) * 1_000_000_000
            pending = self.trade(price, ts)
            pending.append(MarketTrade(product_id, price, Decimal("1"), ts, str(i)))
            self.pump(pending, ts)

    def pump(self, pending: list, ts: int) -> None:
        rounds = 0
        while pending:
            rounds += 1
            assert rounds < 1000, "engine and market never settle"
            batch, pending = pending, []
            if self.chaos is not None:
                batch = self._shake(batch, ts)
            for ev in batch:
                for cmd in self.engine.handle(ev):
                    pending += self.execute(cmd, ts)
                self.check()

    def _shake(self, batch: list, ts: int) -> list:
        rng = self.chaos
        assert rng is not None
        out = []
        for ev in batch:
            out.append(ev)
            if not isinstance(ev, MarketTrade) and rng.random() < 0.3:
                out.append(ev)  # delivered twice
            if isinstance(ev, OrderFilled) and rng.random() < 0.3:
                # a stale working report arrives after the fill
                out.append(OrderStatusReport(ev.client_order_id, OrderStatus.OPEN, ts))
        rng.shuffle(out)
        # a placement's ack must come before the market's reports about the same order
        # only in a sane world; the order state machine accepts either order.
        return out

    def check(self) -> None:
        assert len(self.engine.live_stops()) <= 1
        assert_protected(self.engine)


def assert_protected(engine: DecisionEngine) -> None:
    """Protection liveness: an open size at or above the minimum has a live stop, a stop
    or exit in flight, an exit working, or a reported terminal reason (dust)."""
    pos = engine.position
    if pos is None:
        return
    spec = engine.product
    size = spec.size_down(pos.open_size)
    last = engine.last_price
    if size <= 0 or spec.size_problem(size) or last is None or spec.notional_problem(size, last):
        return  # under the minimum at the market: nothing can be sent for it
    prot = engine.protection
    if prot.state.value == "blocked":
        # a refusal backing off: said (ProtectionBlocked) and bounded in time
        s = prot.s
        assert s.reason and (s.retry_at is None or engine.last_ts < s.retry_at), s
        return
    assert engine.stop is not None or engine.exit is not None or prot.dust, (
        f"open size {size} unprotected in state {prot.state} "
        f"(last {engine.last_price}, trigger {pos.stop_trigger}, {prot.s!r})"
    )
