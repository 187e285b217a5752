"""The sync ExecutionEngine: one pair, one event per `step()`, every change durable.

It holds no trading rule. It feeds events to the core's `DecisionEngine`, journals what
the core decided (the event, the commands as *intents*, the reports, the new state) in
one SQLite transaction, and only then performs the commands on the exchange; each
command's outcome comes back as an event, handled by the next step.

Market ticks that change nothing (no command, no report) are not written: the state they
touch (the highest price, the entry rule's window) is rebuilt on restart by replaying
ticks from the journaled cursor, which is exact because the core is deterministic.

Recovery (`recover()`, run by `start()` before any new event):
1. restore the decision state and its market cursor from the store;
2. mark every request that was in flight as unknown (a placement or cancel journaled
   before a crash may or may not have reached the exchange);
3. ask the exchange about each open order (by order id, or by client_order_id when the
   id never came back), apply fills and cancels that happened while down, resend a
   placement the exchange never saw (same client_order_id, so never a second order);
4. cancel orphans: open orders with this engine's id prefix that it does not know;
5. the core then finishes any unfinished cancel/replace and makes sure the position has
   exactly one stop at the right level (its protection is level-triggered).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tradekit.core.commands import (
    CancelOrder,
    Command,
    EditStopOrder,
    PlaceLimitBuy,
    PlaceStopLimitSell,
)
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import (
    CancelRejected,
    CancelUnknown,
    EditRejected,
    Event,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    OrderSubmitUnknown,
    Timer,
)
from tradekit.core.orders import Order, OrderStatus, OrderType
from tradekit.core.reports import Report
from tradekit.exchange.base import Exchange
from tradekit.exchange.types import ExchangeOrder, Fill, OutcomeUnknown
from tradekit.store.sqlite import Store


class SimulatedMarket(Protocol):
    """An exchange whose market the driver advances (the paper exchange)."""

    @property
    def market_seq(self) -> int: ...

    def advance(self, trade: MarketTrade) -> list[Fill]: ...


@dataclass(slots=True)
class StepResult:
    """What one `step()` did: the event, the commands it caused and their outcomes."""

    event: Event
    commands: list[Command] = field(default_factory=list)
    outcomes: list[Event] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)


def fill_event(f: Fill) -> OrderFilled:
    return OrderFilled(f.client_order_id, f.trade_id, f.price, f.size, f.commission, f.ts)


def report_event(o: ExchangeOrder, ts: int) -> OrderStatusReport:
    return OrderStatusReport(
        o.client_order_id,
        o.status,
        ts,
        order_id=o.order_id,
        filled_size=o.filled_size,
        filled_value=o.filled_value,
        total_fees=o.total_fees,
        triggered=o.triggered,
    )


class ExecutionEngine:
    """Drives one pair: `step()` one event, `run()` many, state inspectable in between.

    `ticks` is the market: a function giving the trades from a cursor (index) on. With a
    paper exchange the engine advances the exchange's market itself, tick by tick, so a
    run on a seeded path is fully deterministic.
    """

    def __init__(
        self,
        decision: DecisionEngine,
        exchange: Exchange,
        store: Store,
        ticks: Callable[[int], Iterator[MarketTrade]],
    ) -> None:
        self.decision = decision
        self.exchange = exchange
        self.store = store
        self.product_id = decision.product_id
        # may the exchange move a resting stop in place? (then no unprotected gap)
        self.can_edit_stops = bool(getattr(exchange, "can_edit_stops", False))
        decision.can_edit_stops = self.can_edit_stops
        self._ticks_from = ticks
        self._ticks: Iterator[MarketTrade] | None = None
        self.cursor = 0  # market trades the decision engine has handled
        self._market = exchange if hasattr(exchange, "advance") else None
        self._queue: deque[Event] = deque()
        # stop moves in progress: new stop's id -> (old stop's id, when its cancel was sent)
        self._gaps: dict[str, tuple[str, float]] = {}
        self.unprotected_s: list[float] = []  # every measured cancel-then-place gap
        self.started = False
        self.finished = False

    # -- life cycle --------------------------------------------------------------------

    def start(self) -> list[StepResult]:
        """Load saved state and reconcile with the exchange (idempotent)."""
        if self.started:
            return []
        self.started = True
        return self.recover()

    def step(self) -> StepResult | None:
        """Process exactly one event; None when the market has no more data."""
        if not self.started:
            self.start()
        if not self._queue and not self._pull():
            self.finished = True
            return None
        return self._process(self._queue.popleft())

    def run(self, ticks: int | None = None, until_ts: int | None = None) -> int:
        """Process events until `ticks` more market trades, a time, or the end of data.

        Returns the number of market trades handled. The loop is the hot path: a tick
        that fills nothing and changes no decision costs one advance and one handle.
        """
        if not self.started:
            self.start()
        handled = 0
        decision_handle = self.decision.handle
        while ticks is None or handled < ticks:
            if self._queue:
                ev = self._queue.popleft()
                self._process(ev)
                if isinstance(ev, MarketTrade):
                    handled += 1
                continue
            if not self._pull():
                self.finished = True
                break
            ev = self._queue[0]
            if until_ts is not None and ev.ts > until_ts:
                break
            if len(self._queue) == 1 and isinstance(ev, MarketTrade):
                # fast path: nothing filled; most ticks end here with no command
                self._queue.popleft()
                commands = decision_handle(ev)
                self.cursor += 1
                handled += 1
                if commands or self.decision.has_reports:
                    self._after_handle(ev, commands)
        # finish what the last trade started (outcomes of its commands), so that the
        # state a caller inspects is settled, not halfway through a cancel/replace
        while self._queue and not isinstance(self._queue[0], MarketTrade):
            self._process(self._queue.popleft())
        return handled

    # -- internals ---------------------------------------------------------------------

    def _pull(self) -> bool:
        """Queue the next market tick, with the fills it causes on a paper exchange."""
        if self._ticks is None:
            self._ticks = self._ticks_from(self.cursor)
        trade = next(self._ticks, None)
        if trade is None:
            return False
        fills = self._market.advance(trade) if self._market is not None else []
        stop = self.decision.stop
        if stop is not None and stop.stop_price is not None and trade.price <= stop.stop_price:
            self._queue.extend(self._stop_news(trade, fills))
        self._queue.extend(fill_event(f) for f in fills)
        self._queue.append(trade)
        return True

    def _process(self, ev: Event) -> StepResult:
        commands = self.decision.handle(ev)
        if isinstance(ev, MarketTrade):
            self.cursor += 1
        return self._after_handle(ev, commands)

    def _stop_news(self, trade: MarketTrade, fills: list[Fill]) -> list[Event]:
        """A print at or below the stop may have triggered it without filling it (a gap
        through its limit): fills would tell, silence does not, so ask the exchange.
        Queued before the trade's other fills: the trigger happened at this print, and
        the engine must know the stop is executing before it reacts to an entry fill."""
        stop = self.decision.stop
        if (
            stop is None
            or stop.triggered
            or stop.stop_price is None
            or trade.price > stop.stop_price
            or stop.order_id is None
            or stop.status is not OrderStatus.OPEN
            or any(f.order_id == stop.order_id for f in fills)
        ):
            return []
        return self._order_news(stop.client_order_id, stop.order_id, trade.ts)

    def _after_handle(self, ev: Event, commands: list[Command]) -> StepResult:
        reports = self.decision.take_reports()
        result = StepResult(ev, commands, [], reports)
        if not (commands or reports) and isinstance(ev, MarketTrade | Timer):
            return result
        self._journal(ev, commands, reports)
        outcomes: list[Event] = []
        for cmd in commands:
            outcomes.extend(self._perform(cmd))
        result.outcomes = outcomes
        # outcomes are handled before the next market tick, in order
        self._queue.extendleft(reversed(outcomes))
        return result

    def _journal(self, ev: Event | None, commands: list[Command], reports: list[Report]) -> None:
        touched = self._touched(ev, commands)
        self.store.record(
            self.product_id,
            event=ev,
            commands=commands,
            reports=reports,
            orders=touched,
            snapshot=self.decision.snapshot(),
            cursor=self.cursor,
            ts=self.decision.last_ts,
        )

    def _touched(self, ev: Event | None, commands: list[Command]) -> list[Order]:
        ids = {c.client_order_id for c in commands}
        for c in commands:
            if isinstance(c, CancelOrder) and c.then is not None:
                ids.add(c.then.client_order_id)
        coid = getattr(ev, "client_order_id", None)
        if coid:
            ids.add(coid)
        orders = self.decision.orders
        return [orders[i] for i in ids if i in orders]

    def _perform(self, cmd: Command) -> list[Event]:
        """Do one command on the exchange; its outcome as events (never an exception)."""
        ts = self.decision.last_ts
        try:
            if isinstance(cmd, PlaceLimitBuy):
                res = self.exchange.place_limit_buy(
                    cmd.client_order_id, cmd.product_id, cmd.size, cmd.limit_price
                )
            elif isinstance(cmd, PlaceStopLimitSell):
                res = self.exchange.place_stop_limit(
                    cmd.client_order_id, cmd.product_id, cmd.size, cmd.stop_price, cmd.limit_price
                )
            elif isinstance(cmd, EditStopOrder):
                return self._edit(cmd, ts)
            else:
                if cmd.then is not None:
                    self._gaps[cmd.then.client_order_id] = (cmd.client_order_id, time.monotonic())
                cancelled = self.exchange.cancel_order(cmd.order_id)
                if cancelled.success:
                    return self._order_news(cmd.client_order_id, cmd.order_id, ts)
                return [CancelRejected(cmd.client_order_id, cancelled.failure_reason, ts)]
        except OutcomeUnknown as exc:
            if isinstance(cmd, CancelOrder):
                return [CancelUnknown(cmd.client_order_id, ts, str(exc))]
            return [OrderSubmitUnknown(cmd.client_order_id, ts, str(exc))]
        if res.success and res.order_id:
            if isinstance(cmd, PlaceStopLimitSell):
                self._gap_closed(cmd, ts)
            return [OrderAccepted(cmd.client_order_id, res.order_id, ts)]
        return [OrderRejected(cmd.client_order_id, res.failure_reason or "UNKNOWN", ts)]

    def _edit(self, cmd: EditStopOrder, ts: int) -> list[Event]:
        try:
            res = self.exchange.edit_order(  # type: ignore[attr-defined]
                cmd.order_id, cmd.size, cmd.limit_price, cmd.stop_price
            )
        except OutcomeUnknown:
            return self._edit_truth(cmd.client_order_id, cmd.order_id, ts)
        if res.success:
            return [OrderEdited(cmd.client_order_id, cmd.size, cmd.stop_price, cmd.limit_price, ts)]
        return [EditRejected(cmd.client_order_id, res.failure_reason or "UNKNOWN", ts)]

    def _edit_truth(self, coid: str, order_id: str, ts: int) -> list[Event]:
        """An edit whose answer is unknown: the order's levels, as the exchange has them."""
        o = self.exchange.get_order(order_id)
        if o is None:
            return [EditRejected(coid, "order not found after an unanswered edit", ts)]
        news = [e for e in self._order_news(coid, order_id, ts) if not isinstance(e, OrderAccepted)]
        return [OrderEdited(coid, o.size, o.stop_price, o.limit_price, ts), *news]

    def _gap_closed(self, stop: PlaceStopLimitSell, ts: int) -> None:
        """Journal how long the position was unprotected while its stop moved (wall
        time from sending the cancel to the new stop's acknowledgement)."""
        gap = self._gaps.pop(stop.client_order_id, None)
        if gap is None:
            return
        seconds = time.monotonic() - gap[1]
        self.unprotected_s.append(seconds)
        self.store.record_outcome(
            self.product_id,
            stop.client_order_id,
            {"replaces": gap[0], "unprotected_ms": round(seconds * 1000, 3)},
            ts,
        )

    def _order_news(self, coid: str, order_id: str | None, ts: int) -> list[Event]:
        """The exchange's truth about one order: unseen fills first, then its status."""
        o = (
            self.exchange.get_order(order_id)
            if order_id
            else self.exchange.get_order_by_client_id(coid)
        )
        if o is None:
            return []
        known = self.decision.orders.get(coid)
        seen = known.trade_ids if known is not None else set()
        events: list[Event] = []
        if order_id is None:
            events.append(OrderAccepted(coid, o.order_id, ts))
        if o.filled_size > (known.filled_size if known is not None else 0):
            fills = self.exchange.list_fills(order_id=o.order_id)
            fresh = [f for f in sorted(fills, key=_fill_key) if f.trade_id not in seen]
            events += [fill_event(f) for f in fresh]
        if o.status is not OrderStatus.FILLED or o.triggered:
            events.append(report_event(o, ts))
        return events

    # -- recovery ----------------------------------------------------------------------

    def recover(self) -> list[StepResult]:
        """Bring the saved state and the exchange's truth together (see module doc)."""
        saved = self.store.load_engine_state(self.product_id)
        results: list[StepResult] = []
        if saved is None:
            return results
        snapshot, cursor = saved
        self.decision = DecisionEngine.restore(self.decision.params, self.decision.rule, snapshot)
        self.decision.can_edit_stops = self.can_edit_stops
        self.cursor = cursor
        self._ticks = self._ticks_from(cursor)
        market_seq = getattr(self._market, "market_seq", None)
        # A simulated market may be ahead of the decision engine: it processed trades
        # [cursor, market_seq) before the crash. All but the last changed nothing (a fill
        # would have been journaled with a later cursor), so the engine replays them alone
        # (exact: the core is deterministic); the last one's fills come from the lookups
        # below, then the trade itself is handled, in the order a live run has them.
        trade_at_cursor: MarketTrade | None = None
        if market_seq is not None and market_seq > cursor:
            for _ in range(market_seq - 1 - cursor):
                trade = next(self._ticks, None)
                if trade is None:
                    break
                results.append(self._process(trade))
            trade_at_cursor = next(self._ticks, None)
        ts = self.decision.last_ts
        events: list[Event] = []
        for order in list(self.decision.pending_orders()):
            events += self._recover_order(order, ts)
        for ev in events:
            results.append(self._process(ev))
            while self._queue:
                results.append(self._process(self._queue.popleft()))
        results += self._cancel_orphans(ts)
        if trade_at_cursor is not None:
            self._queue.append(trade_at_cursor)  # already advanced at the exchange
        return results

    def _recover_order(self, order: Order, ts: int) -> list[Event]:
        coid = order.client_order_id
        status = order.status
        events: list[Event] = []
        if status is OrderStatus.INITIALIZED:
            events.append(OrderSubmitUnknown(coid, ts, "in flight at restart"))
        elif status is OrderStatus.PENDING_CANCEL:
            events.append(CancelUnknown(coid, ts, "in flight at restart"))
        elif status is OrderStatus.PENDING_EDIT and order.order_id is not None:
            return self._edit_truth(coid, order.order_id, ts)
        if order.order_id is None:
            found = self.exchange.get_order_by_client_id(coid)
            if found is None:
                # Never reached the exchange: send it now (same id: cannot be a second order).
                order_cmd = _placement(order)
                return events + self._resend(order_cmd)
            events.append(OrderAccepted(coid, found.order_id, ts))
            order_id: str | None = found.order_id
        else:
            order_id = order.order_id
        news = self._order_news(coid, order_id, ts)
        return events + [e for e in news if not isinstance(e, OrderAccepted)]

    def _resend(self, cmd: Command) -> list[Event]:
        self._journal(None, [cmd], [])
        return self._perform(cmd)

    def _cancel_orphans(self, ts: int) -> list[StepResult]:
        prefix = self.decision.id_prefix + "-"
        known = self.decision.orders
        results: list[StepResult] = []
        for o in self.exchange.list_open_orders(self.product_id):
            if o.client_order_id.startswith(prefix) and o.client_order_id not in known:
                res = self.exchange.cancel_order(o.order_id)
                self.store.note(
                    self.product_id,
                    f"cancelled orphan order {o.client_order_id} ({o.order_id}): "
                    f"{'ok' if res.success else res.failure_reason}",
                    ts,
                )
        return results

    # -- inspection --------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The pair at a glance (Decimals kept exact)."""
        d = self.decision
        pos = d.position
        return {
            "product_id": self.product_id,
            "phase": d.phase.value,
            "cursor": self.cursor,
            "last_price": d.last_price,
            "position": None
            if pos is None
            else {
                "open_size": pos.open_size,
                "entry_price": pos.entry_price,
                "highest": pos.highest,
                "stop_trigger": pos.stop_trigger,
                "stop_limit": pos.stop_limit,
            },
            "live_stops": len(d.live_stops()),
            "realized_pnl": self.store.total_realized_pnl(self.product_id),
        }


def _fill_key(f: Fill) -> tuple[int, str]:
    return (f.ts, f.trade_id)


def _placement(order: Order) -> Command:
    if order.order_type is OrderType.STOP_LIMIT:
        assert order.stop_price is not None
        return PlaceStopLimitSell(
            order.client_order_id,
            order.product_id,
            order.size,
            order.stop_price,
            order.limit_price,
            order.created_ts,
        )
    return PlaceLimitBuy(
        order.client_order_id, order.product_id, order.size, order.limit_price, order.created_ts
    )
