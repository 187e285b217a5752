"""The decision engine for one pair: events in, commands out (sans-I/O, like h11).

    commands = engine.handle(event)

The engine holds the pair's orders and position and decides; a driver (sync or async)
performs the commands, journals them first, and feeds back what happened as events.

Rules, in the order a position lives them:
1. Flat: the entry rule may fire; the engine places one limit buy (size from `size`, or
   `quote_budget / limit` rounded down), never below the product's minimum.
2. The entry is cancelled once `max_entry_wait` has passed since it was placed.
3. Every entry fill (partial or full) is protected at once: the desired stop is the
   position's trigger/limit for its whole open size. Protection is *level-triggered*:
   after each event the engine compares the live stop with the desired one and, when
   they differ and nothing is in flight, starts one change.
4. A change is cancel, then place (Coinbase holds the funds of a resting sell). The
   cancel command carries the stop to place next, so the driver journals the whole
   intent before the unprotected gap opens. The new stop is placed only once the old one
   is known cancelled; a refused cancel (the stop already triggered or filled) places no
   new stop.
5. When the stop starts to execute, an entry still working is cancelled.
6. When everything bought is sold and no entry works, the position is closed with its
   realized P&L, fees included; the pair is flat again.

Client order ids are `<id_prefix>-<n>` with `n` counting up in the engine's persisted
state: deterministic, never reused, and fixed at the command so a retry is the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any

from tradekit.core.commands import (
    CancelOrder,
    CancelReason,
    Command,
    EditStopOrder,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
)
from tradekit.core.entry import EntryRule
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
    TradingState,
    TradingStateChanged,
)
from tradekit.core.money import MONEY_CONTEXT, ZERO, ProductSpec, to_decimal
from tradekit.core.orders import (
    REPORT_TRIGGER,
    Applied,
    FillDelta,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Trigger,
)
from tradekit.core.position import PositionState, TrailParams
from tradekit.core.reports import (
    EntryEnded,
    EntryPlaced,
    EntrySkipped,
    PositionClosed,
    PositionOpened,
    Report,
    StopMoved,
    StopRejected,
    StopTriggered,
)

_ARCHIVE = 16  # finished orders kept for late events (a fill reported after CANCELLED)
_STOP_IN_FLIGHT = frozenset(
    {
        OrderStatus.INITIALIZED,
        OrderStatus.SUBMIT_UNKNOWN,
        OrderStatus.PENDING_CANCEL,
        OrderStatus.CANCEL_UNKNOWN,
        OrderStatus.CANCEL_QUEUED,
        OrderStatus.PENDING_EDIT,
        OrderStatus.UNKNOWN_ORDER_STATUS,
    }
)
_ENTRY_CANCELLABLE = frozenset({OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.QUEUED})


@dataclass(frozen=True, slots=True)
class PairParams:
    """Everything the engine needs to trade one pair (validated config produces these)."""

    product: ProductSpec
    trail: TrailParams
    max_entry_wait_ns: int
    size: Decimal | None = None
    quote_budget: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.size is None) == (self.quote_budget is None):
            raise ValueError("give exactly one of size and quote_budget")
        if self.size is not None:
            size = to_decimal(self.size, "size")
            problem = self.product.size_problem(size)
            if problem:
                raise ValueError(f"{self.product.product_id}: {problem}")
            object.__setattr__(self, "size", size)
        if self.quote_budget is not None:
            budget = to_decimal(self.quote_budget, "quote_budget")
            if budget <= ZERO:
                raise ValueError("quote_budget must be positive")
            object.__setattr__(self, "quote_budget", budget)
        if self.max_entry_wait_ns <= 0:
            raise ValueError("max_entry_wait must be positive")


class Phase(StrEnum):
    FLAT = "flat"  # no entry working, nothing held
    ENTERING = "entering"  # an entry works, nothing filled yet
    IN_POSITION = "in_position"  # something is held


class DecisionEngine:
    """One pair's trading rules as a state machine. See the module docstring."""

    def __init__(self, params: PairParams, entry_rule: EntryRule, id_prefix: str) -> None:
        self.params = params
        self.product = params.product
        self.product_id = params.product.product_id
        self.rule = entry_rule
        self.id_prefix = id_prefix
        self.seq = 0
        self.orders: dict[str, Order] = {}  # live cycle and the recent archive
        self.entry: Order | None = None  # the entry order while it works
        self.stop: Order | None = None  # the stop order while it may rest
        self.next_stop_id: str | None = None  # reserved id of the stop that follows a cancel
        self.position: PositionState | None = None
        self.stop_blocked: str | None = None  # why the last stop was refused
        self.cancel_refused: str | None = None  # the stop whose cancel was refused
        self.edit_refused: str | None = None  # the stop whose in-place edit was refused
        self.exit: Order | None = None  # the flatten order while it may rest
        self.flatten_offset: Decimal | None = None  # set by a flattening kill switch
        # A capability of the exchange, set by the driver: may a resting stop be moved
        # in place (no unprotected gap)? Otherwise, and after a refusal: cancel, place.
        self.can_edit_stops = False
        self.trading_state = TradingState.ACTIVE
        # Set by a portfolio: may an entry of (product, size, limit, ts) go? None = yes,
        # else the reason it may not (tradekit.core.risk.PortfolioRisk.check).
        self.entry_gate: Callable[[str, Decimal, Decimal, int], str | None] | None = None
        self._last_skip = ""  # an EntrySkipped reason is reported once, not every tick
        self.last_price: Decimal | None = None
        self.last_ts = 0
        self._reports: list[Report] = []
        self._handlers: dict[type, Callable[[Any], list[Command]]] = {
            MarketTrade: self._on_trade,
            Timer: self._on_timer,
            TradingStateChanged: self._on_trading_state,
            OrderAccepted: self._on_accepted,
            OrderRejected: self._on_rejected,
            OrderSubmitUnknown: self._on_submit_unknown,
            OrderFilled: self._on_filled,
            OrderStatusReport: self._on_report,
            CancelRejected: self._on_cancel_rejected,
            CancelUnknown: self._on_cancel_unknown,
            OrderEdited: self._on_edited,
            EditRejected: self._on_edit_rejected,
        }

    # -- the contract ------------------------------------------------------------------

    def handle(self, event: Event) -> list[Command]:
        """Consume one event; return the commands to perform, in order."""
        try:
            handler = self._handlers[type(event)]
        except KeyError:
            raise TypeError(f"not an event: {event!r}") from None
        with localcontext(MONEY_CONTEXT):
            return handler(event)

    def take_reports(self) -> list[Report]:
        """The domain facts stated since the last call (the driver journals them)."""
        reports, self._reports = self._reports, []
        return reports

    @property
    def has_reports(self) -> bool:
        """Reports are waiting: the state changed in a way the driver must journal."""
        return bool(self._reports)

    @property
    def phase(self) -> Phase:
        if self.position is not None:
            return Phase.IN_POSITION
        return Phase.ENTERING if self.entry is not None else Phase.FLAT

    def live_stops(self) -> list[Order]:
        """Stop orders that may rest on the exchange (never more than one)."""
        return [
            o for o in self.orders.values() if o.order_type is OrderType.STOP_LIMIT and o.is_open
        ]

    def pending_orders(self) -> list[Order]:
        """Orders whose exchange state must be looked up after a restart."""
        return [o for o in self.orders.values() if o.is_open]

    # -- market ------------------------------------------------------------------------

    def _on_trade(self, ev: MarketTrade) -> list[Command]:
        price = ev.price
        if type(price) is not Decimal:
            to_decimal(price, "MarketTrade.price")
        ts = ev.ts
        self.last_price = price
        self.last_ts = ts
        self.rule.observe(price, ts)
        pos = self.position
        if pos is not None:
            commands: list[Command] = []
            old = pos.stop_trigger
            if pos.ratchet(price):
                self._stop_moved(old, price, ts)
                commands = self._protect(ts)
            elif self.stop_blocked is not None and pos.stop_trigger is not None:
                if price > pos.stop_trigger:  # a stop-down is valid again: retry
                    self.stop_blocked = None
                    commands = self._protect(ts)
            if self.entry is not None:
                commands += self._entry_timeout(ts)
            return commands
        if self.entry is not None:
            return self._entry_timeout(ts)
        if self.trading_state is TradingState.ACTIVE:
            limit = self.rule.signal(price, ts)
            if limit is not None:
                return self._enter(limit, price, ts)
        return []

    def _on_trading_state(self, ev: TradingStateChanged) -> list[Command]:
        self.trading_state = ev.state
        self.last_ts = max(self.last_ts, ev.ts)
        commands: list[Command] = []
        if ev.state is not TradingState.HALTED:
            return commands
        entry = self.entry
        if entry is not None and entry.status in _ENTRY_CANCELLABLE:
            commands += self._cancel(entry, CancelReason.KILL, ev.ts)
        if ev.flatten_offset_pct is not None and self.position is not None:
            offset = to_decimal(ev.flatten_offset_pct, "flatten_offset_pct")
            if not ZERO <= offset < 1:
                raise ValueError(f"flatten_offset_pct must be in [0, 1), got {offset}")
            self.flatten_offset = offset
            commands += self._protect(ev.ts)
        return commands

    def _on_timer(self, ev: Timer) -> list[Command]:
        self.last_ts = max(self.last_ts, ev.ts)
        return self._entry_timeout(ev.ts) if self.entry is not None else []

    # -- orders ------------------------------------------------------------------------

    def _on_accepted(self, ev: OrderAccepted) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        order.order_id = ev.order_id
        order.transition(Trigger.ACCEPTED)
        return self._settle(ev.ts)

    def _on_rejected(self, ev: OrderRejected) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.REJECTED, ev.reason) is Applied.CHANGED and order is self.stop:
            self.stop_blocked = ev.reason
            self._reports.append(
                StopRejected(self.product_id, order.client_order_id, ev.reason, ev.ts)
            )
        return self._settle(ev.ts)

    def _on_submit_unknown(self, ev: OrderSubmitUnknown) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is not None:
            order.transition(Trigger.SUBMIT_LOST, ev.detail)
        return []

    def _on_filled(self, ev: OrderFilled) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        for name in ("price", "size", "fee"):
            if type(getattr(ev, name)) is not Decimal:
                to_decimal(getattr(ev, name), f"OrderFilled.{name}")
        _, delta = order.fill(ev.trade_id, ev.size, ev.price, ev.fee)
        if delta is not None:
            self._book(order, delta, ev.ts)
        return self._settle(ev.ts)

    def _on_report(self, ev: OrderStatusReport) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if ev.order_id and not order.order_id:
            order.order_id = ev.order_id
        if ev.filled_size is not None and ev.filled_size > order.filled_size:
            _, delta = order.fill_to(ev.filled_size, ev.filled_value, ev.total_fees)
            if delta is not None:
                self._book(order, delta, ev.ts)
        if ev.triggered and not order.triggered:
            order.triggered = True
            if order is self.stop:
                self._stop_triggered(order, ev.ts)
        if ev.status is not OrderStatus.FILLED:
            order.transition(REPORT_TRIGGER[ev.status])
        return self._settle(ev.ts)

    def _on_cancel_rejected(self, ev: CancelRejected) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.CANCEL_REJECTED, ev.reason) is Applied.CHANGED:
            if order is self.entry:
                self.cancel_refused = order.client_order_id  # not again: it is settling
            if order is self.stop:
                # Already triggered or filled: the stop is doing its job. No new stop.
                self.cancel_refused = order.client_order_id
                self.next_stop_id = None
        return self._settle(ev.ts)

    def _on_cancel_unknown(self, ev: CancelUnknown) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is not None:
            order.transition(Trigger.CANCEL_LOST, ev.detail)
        return []

    def _on_edited(self, ev: OrderEdited) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.EDIT_ACCEPTED) is Applied.CHANGED:
            order.size = ev.size
            order.stop_price = ev.stop_price
            order.limit_price = ev.limit_price
        return self._settle(ev.ts)

    def _on_edit_rejected(self, ev: EditRejected) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.EDIT_REJECTED, ev.reason) is Applied.CHANGED:
            self.edit_refused = order.client_order_id  # fall back to cancel, then place
        return self._settle(ev.ts)

    # -- decisions ---------------------------------------------------------------------

    def _next_id(self) -> str:
        self.seq += 1
        return f"{self.id_prefix}-{self.seq}"

    def _enter(self, limit: Decimal, signal_price: Decimal, ts: int) -> list[Command]:
        limit = self.product.price_down(limit)
        if limit <= ZERO:
            return self._skip("limit price rounds to 0", ts)
        size = self.params.size
        if size is None:
            assert self.params.quote_budget is not None
            size = self.product.size_down(self.params.quote_budget / limit)
        problem = self.product.size_problem(size)
        if problem:
            return self._skip(problem, ts)
        if self.entry_gate is not None:
            refused = self.entry_gate(self.product_id, size, limit, ts)
            if refused:
                return self._skip(refused, ts)
        self._last_skip = ""
        order = Order(
            self._next_id(), self.product_id, OrderSide.BUY, OrderType.LIMIT, size, limit, None, ts
        )
        self._add(order)
        self.entry = order
        self._reports.append(
            EntryPlaced(self.product_id, order.client_order_id, size, limit, signal_price, ts)
        )
        return [PlaceLimitBuy(order.client_order_id, self.product_id, size, limit, ts)]

    def _skip(self, reason: str, ts: int) -> list[Command]:
        if reason != self._last_skip:
            self._last_skip = reason
            self._reports.append(EntrySkipped(self.product_id, reason, ts))
        return []

    def _entry_timeout(self, ts: int) -> list[Command]:
        entry = self.entry
        assert entry is not None
        if (
            entry.status in _ENTRY_CANCELLABLE
            and ts - entry.created_ts >= self.params.max_entry_wait_ns
            and self.cancel_refused != entry.client_order_id
        ):
            return self._cancel(entry, CancelReason.ENTRY_TIMEOUT, ts)
        return []

    def _cancel(
        self, order: Order, reason: CancelReason, ts: int, then: PlaceStopLimitSell | None = None
    ) -> list[Command]:
        assert order.order_id is not None
        order.transition(Trigger.CANCEL_REQUESTED)
        return [CancelOrder(order.client_order_id, order.order_id, reason, ts, then)]

    def _book(self, order: Order, delta: FillDelta, ts: int) -> None:
        """Book a new fill on the position (buys open/increase, sells reduce)."""
        if order.side is OrderSide.BUY:
            pos = self.position
            if pos is None:
                pos = self.position = PositionState(self.product, self.params.trail)
                self._reports.append(PositionOpened(self.product_id, delta.size, delta.price, ts))
            old = pos.stop_trigger
            if pos.add_buy(delta.size, delta.price, delta.fee):
                self._stop_moved(old, delta.price, ts)
        else:
            if self.position is None:  # a sell we cannot place against: book nothing
                return
            self.position.add_sell(delta.size, delta.price, delta.fee)
            if order.order_type is OrderType.STOP_LIMIT and not order.triggered:
                order.triggered = True  # a stop that fills has triggered
                if order is self.stop:
                    self._stop_triggered(order, ts)

    def _stop_moved(self, old: Decimal | None, price: Decimal, ts: int) -> None:
        pos = self.position
        assert pos is not None and pos.stop_trigger is not None and pos.stop_limit is not None
        self._reports.append(
            StopMoved(
                self.product_id, old, pos.stop_trigger, pos.stop_limit, price, pos.highest, ts
            )
        )

    def _stop_triggered(self, stop: Order, ts: int) -> None:
        self._reports.append(
            StopTriggered(self.product_id, stop.client_order_id, stop.filled_size, stop.size, ts)
        )

    def _settle(self, ts: int) -> list[Command]:
        """After any order event: retire finished orders, then act on what is true now."""
        self.last_ts = max(self.last_ts, ts)
        commands: list[Command] = []
        entry = self.entry
        if entry is not None and entry.status.is_terminal:
            self.entry = None
            if self.cancel_refused == entry.client_order_id:
                self.cancel_refused = None
            self._reports.append(
                EntryEnded(
                    self.product_id,
                    entry.client_order_id,
                    entry.status.value,
                    entry.filled_size,
                    ts,
                )
            )
        if self.exit is not None and self.exit.status.is_terminal:
            self.exit = None
        stop = self.stop
        if stop is not None:
            if stop.status.is_terminal:
                self.stop = None
                if self.cancel_refused == stop.client_order_id:
                    self.cancel_refused = None
            elif stop.triggered and self.entry is not None:
                # The stop is selling: buying more now would feed a falling market.
                if self.entry.status in _ENTRY_CANCELLABLE:
                    commands += self._cancel(self.entry, CancelReason.STOP_TRIGGERED, ts)
        commands += self._protect(ts)
        self._maybe_close(ts)
        self._trim()
        return commands

    def _protect(self, ts: int) -> list[Command]:
        """Make the exchange's stop match the desired one: at most one change at a time."""
        pos = self.position
        if pos is None or pos.stop_trigger is None or pos.stop_limit is None:
            return []
        if self.flatten_offset is not None:
            return self._flatten(pos, ts)
        size = self.product.size_down(pos.open_size)
        stop = self.stop
        if stop is not None:
            if (
                stop.status in _STOP_IN_FLIGHT
                or stop.triggered
                or self.cancel_refused == stop.client_order_id
            ):
                return []  # wait for the exchange's word; never touch an executing stop
            if (
                stop.remaining == size
                and stop.stop_price == pos.stop_trigger
                and stop.limit_price == pos.stop_limit
            ):
                return []
            valid = size > ZERO and self.product.size_problem(size) is None
            if self.can_edit_stops and valid and self.edit_refused != stop.client_order_id:
                assert stop.order_id is not None
                stop.transition(Trigger.EDIT_REQUESTED)
                return [
                    EditStopOrder(
                        stop.client_order_id,
                        stop.order_id,
                        size,
                        pos.stop_trigger,
                        pos.stop_limit,
                        ts,
                    )
                ]
            reason = (
                CancelReason.STOP_MOVE
                if stop.stop_price != pos.stop_trigger
                else CancelReason.STOP_RESIZE
            )
            then = None
            if valid:
                self.next_stop_id = self.next_stop_id or self._next_id()
                then = self._stop_command(self.next_stop_id, size, pos, ts, stop.client_order_id)
            return self._cancel(stop, reason, ts, then)
        if self.stop_blocked is not None or size <= ZERO or self.product.size_problem(size):
            return []
        coid = self.next_stop_id or self._next_id()
        self.next_stop_id = None
        replaces = self._previous_stop_id()
        command = self._stop_command(coid, size, pos, ts, replaces)
        order = Order(
            coid,
            self.product_id,
            OrderSide.SELL,
            OrderType.STOP_LIMIT,
            size,
            command.limit_price,
            command.stop_price,
            ts,
        )
        self._add(order)
        self.stop = order
        return [command]

    def _flatten(self, pos: PositionState, ts: int) -> list[Command]:
        """The kill switch sells: the stop makes way (the exchange holds its funds), then
        one limit sell of what is held, at the stated offset below the last price."""
        stop = self.stop
        if stop is not None and stop.is_open:
            if stop.status in _STOP_IN_FLIGHT or stop.triggered:
                return []  # wait; a triggered stop is already selling
            if self.cancel_refused == stop.client_order_id:
                return []
            return self._cancel(stop, CancelReason.FLATTEN, ts)
        if self.exit is not None and self.exit.is_open:
            return []
        size = self.product.size_down(pos.open_size)
        price = self.last_price if self.last_price is not None else pos.highest
        assert self.flatten_offset is not None
        limit = self.product.price_down(price * (1 - self.flatten_offset))
        if size <= ZERO or limit <= ZERO or self.product.size_problem(size):
            return []
        order = Order(
            self._next_id(), self.product_id, OrderSide.SELL, OrderType.LIMIT, size, limit, None, ts
        )
        self._add(order)
        self.exit = order
        return [PlaceLimitSell(order.client_order_id, self.product_id, size, limit, ts)]

    def _stop_command(
        self, coid: str, size: Decimal, pos: PositionState, ts: int, replaces: str | None
    ) -> PlaceStopLimitSell:
        assert pos.stop_trigger is not None and pos.stop_limit is not None
        return PlaceStopLimitSell(
            coid, self.product_id, size, pos.stop_trigger, pos.stop_limit, ts, replaces
        )

    def _previous_stop_id(self) -> str | None:
        for order in reversed(self.orders.values()):
            if order.order_type is OrderType.STOP_LIMIT:
                return order.client_order_id
        return None

    def _maybe_close(self, ts: int) -> None:
        pos = self.position
        if pos is None or pos.open_size > ZERO or self.entry is not None:
            return
        if self.stop is not None and self.stop.is_open:
            return
        if self.exit is not None and self.exit.is_open:
            return
        entry_price = pos.entry_price
        exit_price = pos.exit_price
        assert entry_price is not None and exit_price is not None
        self._reports.append(
            PositionClosed(
                self.product_id,
                pos.filled_size,
                entry_price,
                exit_price,
                pos.fees,
                pos.realized_pnl,
                ts,
            )
        )
        self.position = None
        self.stop = None
        self.exit = None
        self.flatten_offset = None
        self.next_stop_id = None
        self.stop_blocked = None
        self.cancel_refused = None
        self.edit_refused = None

    def _add(self, order: Order) -> None:
        self.orders[order.client_order_id] = order

    def _trim(self) -> None:
        """Forget the oldest finished orders beyond a small archive."""
        finished = [o for o in self.orders.values() if o.status.is_terminal]
        for order in finished[: max(0, len(finished) - _ARCHIVE)]:
            del self.orders[order.client_order_id]

    # -- persistence -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole decision state, JSON-able (Decimals as strings)."""
        return {
            "product_id": self.product_id,
            "id_prefix": self.id_prefix,
            "seq": self.seq,
            "orders": [o.to_dict() for o in self.orders.values()],
            "entry": None if self.entry is None else self.entry.client_order_id,
            "stop": None if self.stop is None else self.stop.client_order_id,
            "next_stop_id": self.next_stop_id,
            "position": None if self.position is None else self.position.to_dict(),
            "stop_blocked": self.stop_blocked,
            "cancel_refused": self.cancel_refused,
            "edit_refused": self.edit_refused,
            "exit": None if self.exit is None else self.exit.client_order_id,
            "flatten_offset": None if self.flatten_offset is None else str(self.flatten_offset),
            "trading_state": self.trading_state.value,
            "last_skip": self._last_skip,
            "last_price": None if self.last_price is None else str(self.last_price),
            "last_ts": self.last_ts,
            "rule": self.rule.snapshot(),
        }

    @classmethod
    def restore(
        cls, params: PairParams, entry_rule: EntryRule, state: dict[str, Any]
    ) -> DecisionEngine:
        """Rebuild an engine from `snapshot()` (after a restart)."""
        if state["product_id"] != params.product.product_id:
            raise ValueError(
                f"snapshot is for {state['product_id']}, params for {params.product.product_id}"
            )
        engine = cls(params, entry_rule, state["id_prefix"])
        engine.seq = int(state["seq"])
        for d in state["orders"]:
            engine._add(Order.from_dict(d))
        engine.entry = engine.orders[state["entry"]] if state["entry"] else None
        engine.stop = engine.orders[state["stop"]] if state["stop"] else None
        engine.next_stop_id = state["next_stop_id"]
        if state["position"] is not None:
            engine.position = PositionState.from_dict(
                params.product, params.trail, state["position"]
            )
        engine.stop_blocked = state["stop_blocked"]
        engine.cancel_refused = state["cancel_refused"]
        engine.edit_refused = state.get("edit_refused")
        engine.exit = engine.orders[state["exit"]] if state.get("exit") else None
        offset = state.get("flatten_offset")
        engine.flatten_offset = None if offset is None else Decimal(offset)
        engine.trading_state = TradingState(state["trading_state"])
        engine._last_skip = state["last_skip"]
        engine.last_price = None if state["last_price"] is None else Decimal(state["last_price"])
        engine.last_ts = int(state["last_ts"])
        entry_rule.restore(state["rule"])
        return engine
