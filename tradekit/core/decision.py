"""The decision engine for one pair: events in, commands out (sans-I/O, like h11).

    commands = engine.handle(event)

The engine holds the pair's orders and position and decides; a driver (sync or async)
performs the commands, journals them first, and feeds back what happened as events.

Rules, in the order a position lives them:
1. Flat: the entry rule may fire; the engine places one limit buy (size from `size`, or
   `quote_budget / limit` rounded down), never below the product's base or quote minimum.
2. The entry is cancelled once `max_entry_wait` has passed since it was placed.
3. Every entry fill (partial or full) is protected at once. Protection is its own state
   machine, `tradekit.core.protection` (stops, moves, exits when a stop cannot rest,
   gap-through, dust, refusals): every rule of it is stated there. It is
   *level-triggered*: after each event the engine asks it to make the exchange match
   the desired stop.
4. When the stop starts to execute, an entry still working is cancelled.
5. When everything bought is sold (or what is left is dust) and no order works, the
   position is closed with its realized P&L, fees included; the pair is flat again.

Fills: one watermark per order (`Order.fill` / `Order.fill_to`) books every unit once,
whatever mix, order and repetition of per-trade fills and cumulative reports arrive.

Client order ids are `<id_prefix>-<n>`, `n` counting up in the engine's persisted state:
deterministic, and fixed at the command so a retry is the same order. The counter is
journaled in the same transaction as the command; a store that is not fsync'd on every
commit can lose that transaction to a power cut, so on every start the driver syncs the
counter with the exchange (ids at and after the saved `n` that the exchange already
knows are skipped, see `skip_ids`) before any new id is sent: ids stay readable and
deterministic (the parity and crash tests compare them), and a rolled-back counter can
never reuse one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Any

from tradekit.core.backoff import Backoff
from tradekit.core.commands import CancelOrder, CancelReason, Command, PlaceLimitBuy, placement
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
    OrderNotFound,
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
    InvalidOrderTransition,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Trigger,
)
from tradekit.core.position import PositionState, TrailParams
from tradekit.core.protection import Protection, ProtectionParams, ProtectionState
from tradekit.core.reports import (
    EntryEnded,
    EntryPlaced,
    EntrySkipped,
    OrderNewsContradicted,
    PositionClosed,
    PositionOpened,
    PrintIgnored,
    Report,
)
from tradekit.core.sanity import PrintFilter, SanityParams

_ARCHIVE = 16  # finished orders kept for late events (a fill reported after CANCELLED)
_ENTRY_CANCELLABLE = frozenset({OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.QUEUED})
_IN_DOUBT = frozenset(
    {OrderStatus.SUBMIT_UNKNOWN, OrderStatus.CANCEL_UNKNOWN, OrderStatus.UNKNOWN_ORDER_STATUS}
)


@dataclass(frozen=True, slots=True)
class PairParams:
    """Everything the engine needs to trade one pair (validated config produces these)."""

    product: ProductSpec
    trail: TrailParams
    max_entry_wait_ns: int
    size: Decimal | None = None
    quote_budget: Decimal | None = None
    protection: ProtectionParams = field(default_factory=ProtectionParams)
    sanity: SanityParams = field(default_factory=SanityParams)

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
        self.position: PositionState | None = None
        # one back-off policy for every refusal of every kind (entries and protection)
        self.backoff = Backoff(params.protection.retry_initial_ns, params.protection.retry_max_ns)
        self.protection = Protection(params.product, params.protection, params.trail, self)
        # an entry whose cancel was refused: the exchange is asked, its word decides
        self.entry_cancel_refused: str | None = None
        self.prints = PrintFilter.of(params.sanity)
        self.trading_state = TradingState.ACTIVE
        self.flatten_offset: Decimal | None = None  # the kill switch sells what is held
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
            OrderNotFound: self._on_not_found,
            OrderStatusReport: self._on_report,
            CancelRejected: self._on_cancel_rejected,
            CancelUnknown: self._on_cancel_unknown,
            OrderEdited: self._on_edited,
            EditRejected: self._on_edit_rejected,
        }

    # -- the contract ------------------------------------------------------------------

    def handle(self, event: Event) -> list[Command]:
        """Consume one event; return the commands to perform, in order."""
        if type(event) is MarketTrade:
            return self._on_trade(event)  # its own context, entered off the hot path
        try:
            handler = self._handlers[type(event)]
        except KeyError:
            raise TypeError(f"not an event: {event!r}") from None
        with localcontext(MONEY_CONTEXT):
            try:
                return handler(event)
            except InvalidOrderTransition as exc:
                return self._contradicted(exc, event.ts)

    def _contradicted(self, exc: InvalidOrderTransition, ts: int) -> list[Command]:
        """An exchange event that no transition of its order allows is not applied: the
        exchange is asked for the order's state (its answer is applied as usual)."""
        self._reports.append(
            OrderNewsContradicted(self.product_id, exc.client_order_id, str(exc), ts)
        )
        order = self.orders.get(exc.client_order_id)
        return [] if order is None else self.protection.ask(order, ts)

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

    @property
    def protection_state(self) -> ProtectionState:
        return self.protection.state

    @property
    def stop(self) -> Order | None:
        """The stop order while it may rest."""
        return self.protection.stop

    @property
    def exit(self) -> Order | None:
        """The exit limit sell while it may rest."""
        return self.protection.exit

    @property
    def can_edit_stops(self) -> bool:
        """A capability of the exchange, set by the driver: may a resting stop be moved
        in place (no unprotected gap)? Otherwise, and after a refusal: cancel, place."""
        return self.protection.can_edit

    @can_edit_stops.setter
    def can_edit_stops(self, value: bool) -> None:
        self.protection.can_edit = value

    def live_stops(self) -> list[Order]:
        """Stop orders that may rest on the exchange (never more than one)."""
        return [
            o for o in self.orders.values() if o.order_type is OrderType.STOP_LIMIT and o.is_open
        ]

    def pending_orders(self) -> list[Order]:
        """Orders whose exchange state must be looked up after a restart."""
        return [o for o in self.orders.values() if o.is_open]

    def skip_ids(self, n: int) -> None:
        """The exchange already knows the next `n` ids (a counter rolled back by a lost
        commit): never use them."""
        self.seq += n

    # -- the protection host -----------------------------------------------------------

    def next_id(self) -> str:
        self.seq += 1
        return f"{self.id_prefix}-{self.seq}"

    def add_order(self, order: Order) -> None:
        self.orders[order.client_order_id] = order

    def report(self, report: Report) -> None:
        self._reports.append(report)

    # -- market ------------------------------------------------------------------------

    def _take_trade(self, ev: MarketTrade, report: bool) -> Decimal | None:
        """The trade's price, validated and past the print filter (None when ignored,
        with a `PrintIgnored` if `report`); the last price and the entry rule follow it."""
        price = ev.price
        if type(price) is not Decimal:
            price = to_decimal(price, "MarketTrade.price")  # floats raise
        ignored = self.prints.check(price, ev.size, ev.ts)
        if ignored is not None:
            if report:
                self.last_ts = max(self.last_ts, ev.ts)
                self._reports.append(PrintIgnored(self.product_id, price, ignored, ev.ts))
            return None
        self.last_price = price
        self.rule.observe(price, ev.ts)
        return price

    def _on_trade(self, ev: MarketTrade) -> list[Command]:
        price = self._take_trade(ev, report=True)
        if price is None:
            return []
        ts = self.last_ts = ev.ts
        pos = self.position
        if pos is not None:
            moved = pos.ratchet(price)
            protection = self.protection
            if not moved and self.entry is None:
                floor = protection.quiet_floor(pos)
                if floor is not None and price > floor:
                    return []  # the hot path: a stop rests where it should, nothing to do
            with localcontext(MONEY_CONTEXT):
                protection.on_trade(price, ts)
                commands = self._protect(ts)
                if self.entry is not None:
                    commands += self._tend_entry(ts)
            return commands
        if self.entry is not None:
            return self._tend_entry(ts)  # no arithmetic: no context needed
        if self.trading_state is TradingState.ACTIVE:
            with localcontext(MONEY_CONTEXT):
                limit = self.rule.signal(price, ts)
                if limit is not None:
                    return self._enter(limit, price, ts)
        return []

    def quiet_band(self) -> tuple[Decimal, Decimal | None, int | None] | None:
        """(low, high, until): a trade priced strictly between low and high (high None:
        unbounded) and timed before `until` (None: any time) would change nothing but
        the last price and time and the entry rule's count, so a backtest may hand such
        trades over in bulk (`skipped`). None when the next trade may matter whatever
        its price. Conservative by design: a trade outside the band may still be quiet.
        """
        skip = getattr(self.rule, "skipped", None)
        band = self.prints.quiet_range()
        if skip is None or band is None:
            return None
        low, high = band
        until: int | None = None
        pos = self.position
        if pos is not None:
            if self.entry is not None:
                return None
            floor = self.protection.quiet_floor(pos)
            if floor is None:
                return None
            low = max(low, floor)
            # only a new high moves the stop: a trade at the high is quiet too, so the
            # band ends at the next number above it
            above = pos.highest.next_plus(MONEY_CONTEXT)
            high = above if high is None else min(high, above)
        elif self.entry is not None:
            entry = self.entry  # only its timeout can happen here (its fill is the market's)
            until = entry.created_ts + self.params.max_entry_wait_ns
        elif self.trading_state is TradingState.ACTIVE and not getattr(self.rule, "idle", False):
            return None
        return (low, high, until)

    def ratchet_band(self) -> tuple[Decimal, Decimal | None] | None:
        """(low, high): while trades stay strictly between them, a trade above the
        position's high does one thing only, ratchet the stop (`PositionState.ratchet`),
        which protection then moves by one edit the exchange takes (`moves_by_edit`), and
        every other trade down to the stop's trigger is quiet (`quiet_band`). So a
        backtest may follow a run of new highs with the ratchet's own arithmetic and hand
        the engine the last high that moves the stop (`tradekit.backtest.runner`). None
        when that is not so (no position, an entry working, protection busy, ...)."""
        pos = self.position
        if pos is None or self.quiet_band() is None or not self.protection.moves_by_edit(pos):
            return None
        return self.prints.quiet_range()

    def skipped(self, count: int, last: MarketTrade) -> None:
        """`count` trades inside `quiet_band()` happened, the last one `last`: the same
        state as handing each to `handle` (which would have returned no command)."""
        if count <= 0:
            return
        price = last.price
        if type(price) is not Decimal:
            price = to_decimal(price, "MarketTrade.price")
        self.last_price = price
        self.last_ts = last.ts
        self.rule.skipped(count)  # type: ignore[attr-defined]

    def observe(self, ev: MarketTrade) -> None:
        """See a trade without deciding anything on it: a driver that is behind the
        market (its inbox holds trades older than its staleness bound) still learns the
        highs and the last price, and decides on the first current trade (protection is
        level-triggered: the stop then catches up with every high seen). A print the
        filter holds back is reported (`PrintIgnored`) as when it is decided on."""
        price = self._take_trade(ev, report=True)
        if price is None:
            return
        self.last_ts = max(self.last_ts, ev.ts)
        if self.position is not None:
            self.position.ratchet(price)
            self.protection.on_trade(price, ev.ts)

    def _on_trading_state(self, ev: TradingStateChanged) -> list[Command]:
        self.last_ts = max(self.last_ts, ev.ts)
        commands: list[Command] = []
        if ev.state is TradingState.PAUSED and self.trading_state is TradingState.HALTED:
            # a pause is weaker than the kill switch: it must not undo it (nor its
            # flatten); only an explicit resume (ACTIVE) lifts a halt
            return commands
        self.trading_state = ev.state
        if ev.state is not TradingState.HALTED:
            self.flatten_offset = None
            return commands
        if ev.flatten_offset_pct is not None:
            offset = to_decimal(ev.flatten_offset_pct, "flatten_offset_pct")
            if not ZERO <= offset < 1:
                raise ValueError(f"flatten_offset_pct must be in [0, 1), got {offset}")
            # kept while halted: an entry fill racing the kill's cancel is sold too
            self.flatten_offset = offset
        commands += self._cancel_entry(CancelReason.KILL, ev.ts)
        if self.position is not None:
            commands += self._protect(ev.ts)
        return commands

    def _on_timer(self, ev: Timer) -> list[Command]:
        self.last_ts = max(self.last_ts, ev.ts)
        commands = self._tend_entry(ev.ts) if self.entry is not None else []
        if self.position is not None:
            commands += self._protect(ev.ts)  # back-offs and exit re-pricing are timed
        return commands

    # -- orders ------------------------------------------------------------------------

    def _on_accepted(self, ev: OrderAccepted) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        order.order_id = ev.order_id
        order.transition(Trigger.ACCEPTED)
        self.backoff.succeeded(f"query {order.client_order_id}")
        return self._settle(ev.ts)

    def _on_rejected(self, ev: OrderRejected) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.REJECTED, ev.reason) is Applied.DUPLICATE:
            # sent again (same id, after a lost reply) and refused again: that refusal
            # counts for the back-off too
            self.protection.refused_again(order, ev.reason, ev.ts)
        return self._settle(ev.ts)

    def _on_submit_unknown(self, ev: OrderSubmitUnknown) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        order.transition(Trigger.SUBMIT_LOST, ev.detail)
        return self._settle(ev.ts)  # the order is in doubt: ask the exchange

    def _on_not_found(self, ev: OrderNotFound) -> list[Command]:
        """A lookup found no such order. A placement whose reply was lost never arrived:
        send it again, same id. An order the exchange acknowledged cannot vanish: the
        answer is stale (a lookup sent before the acknowledgement) or a glitch, so it
        changes nothing; the order is asked about again if it is still in doubt."""
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.status in (OrderStatus.SUBMIT_UNKNOWN, OrderStatus.INITIALIZED):
            # the lookup's back-off stays: a placement lost again is asked about later
            return [placement(order)]
        if not order.status.is_terminal:
            self._reports.append(
                OrderNewsContradicted(
                    self.product_id, order.client_order_id, "not found, yet acknowledged", ev.ts
                )
            )
        return self._settle(ev.ts)

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
        if order.status is OrderStatus.PENDING_EDIT and ev.limit_price is not None:
            self._edit_settled(order, ev)  # first: the levels say which size the fills fill
        if ev.filled_size is not None:
            _, delta = order.fill_to(ev.filled_size, ev.filled_value, ev.total_fees)
            if delta is not None:
                self._book(order, delta, ev.ts)
        if ev.triggered and not order.triggered:
            order.triggered = True
        if ev.status is not OrderStatus.FILLED:
            order.transition(REPORT_TRIGGER[ev.status])
        # the exchange's word settles a doubt about the order
        if self.entry_cancel_refused == order.client_order_id:
            self.entry_cancel_refused = None
        self.backoff.succeeded(f"query {order.client_order_id}")
        self.protection.on_news(order)
        return self._settle(ev.ts)

    def _edit_settled(self, order: Order, ev: OrderStatusReport) -> None:
        """An edit in flight, and the exchange's levels for the order: they say whether
        the edit took effect (its answer may have been lost)."""
        assert ev.limit_price is not None
        order.edit_size = None
        size = ev.size if ev.size is not None else order.size
        now = (size, ev.stop_price, ev.limit_price)
        if now == (order.size, order.stop_price, order.limit_price):
            order.transition(Trigger.EDIT_REJECTED, "the exchange kept the old levels")
            self.protection.on_edit_refused(order, "not applied", ev.ts)
        else:
            order.transition(Trigger.EDIT_ACCEPTED)
            order.size, order.stop_price, order.limit_price = now
            self.protection.on_edited(order, ev.ts)

    def _on_cancel_rejected(self, ev: CancelRejected) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.CANCEL_REJECTED, ev.reason) is Applied.CHANGED:
            if order is self.entry:
                # filled, or refused this once? Not sent again before the exchange says
                coid = order.client_order_id
                self.entry_cancel_refused = coid
                self.backoff.refused(f"cancel {coid}", coid, ev.reason, ev.ts)
            self.protection.on_cancel_refused(order, ev.reason, ev.ts)
        return self._settle(ev.ts)

    def _on_cancel_unknown(self, ev: CancelUnknown) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        order.transition(Trigger.CANCEL_LOST, ev.detail)
        return self._settle(ev.ts)  # the order is in doubt: ask the exchange

    def _on_edited(self, ev: OrderEdited) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        order.edit_size = None
        if order.transition(Trigger.EDIT_ACCEPTED) is Applied.CHANGED:
            order.size = ev.size
            order.stop_price = ev.stop_price
            order.limit_price = ev.limit_price
            self.protection.on_edited(order, ev.ts)
        return self._settle(ev.ts)

    def _on_edit_rejected(self, ev: EditRejected) -> list[Command]:
        order = self.orders.get(ev.client_order_id)
        if order is None:
            return []
        if order.transition(Trigger.EDIT_REJECTED, ev.reason) is Applied.CHANGED:
            order.edit_size = None  # refused: the exchange kept the old size
            self.protection.on_edit_refused(order, ev.reason, ev.ts)
        return self._settle(ev.ts)

    # -- decisions ---------------------------------------------------------------------

    def _enter(self, limit: Decimal, signal_price: Decimal, ts: int) -> list[Command]:
        limit = self.product.price_down(limit)
        if limit <= ZERO:
            return self._skip("limit price rounds to 0", ts)
        size = self.params.size
        if size is None:
            assert self.params.quote_budget is not None
            size = self.product.size_down(self.params.quote_budget / limit)
        problem = self.protection.first_stop_problem(size, limit)
        if problem:
            return self._skip(f"{problem} (the stop after this entry could not be placed)", ts)
        refused = self.params.sanity.order_problem(size, limit, self.last_price)
        if refused:
            return self._skip(refused, ts)
        if self.entry_gate is not None:
            refused = self.entry_gate(self.product_id, size, limit, ts)
            if refused:
                return self._skip(refused, ts)
        self._last_skip = ""
        order = Order(
            self.next_id(), self.product_id, OrderSide.BUY, OrderType.LIMIT, size, limit, None, ts
        )
        self.add_order(order)
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

    def _tend_entry(self, ts: int) -> list[Command]:
        """A working entry: ask about it while it is in doubt, cancel it once
        `max_entry_wait` has passed."""
        entry = self.entry
        assert entry is not None
        status = entry.status
        if status in _ENTRY_CANCELLABLE and self.entry_cancel_refused is None:
            if ts - entry.created_ts < self.params.max_entry_wait_ns:
                return []  # the common case, on every trade while an entry rests
            return self._cancel_entry(CancelReason.ENTRY_TIMEOUT, ts)
        if status in _IN_DOUBT or self.entry_cancel_refused == entry.client_order_id:
            return self.protection.ask(entry, ts)
        return []

    def _cancel_entry(self, reason: CancelReason, ts: int) -> list[Command]:
        """Cancel the working entry, unless a refused cancel of it awaits the exchange's
        word or backs off: a cancel is never re-sent into a refusal."""
        entry = self.entry
        if entry is None or entry.status not in _ENTRY_CANCELLABLE:
            return []
        coid = entry.client_order_id
        if self.entry_cancel_refused == coid or self.backoff.holds(f"cancel {coid}", coid, ts):
            return []
        return self._cancel(entry, reason, ts)

    def _cancel(self, order: Order, reason: CancelReason, ts: int) -> list[Command]:
        if order.order_id is None:  # it works, its id never came back: ask for it first
            return self.protection.ask(order, ts)
        order.transition(Trigger.CANCEL_REQUESTED)
        return [CancelOrder(order.client_order_id, order.order_id, reason, ts)]

    def _book(self, order: Order, delta: FillDelta, ts: int) -> None:
        """Book a new fill on the position (buys open/increase, sells reduce)."""
        if order.side is OrderSide.BUY:
            pos = self.position
            if pos is None:
                pos = self.position = PositionState(self.product, self.params.trail)
                self._reports.append(PositionOpened(self.product_id, delta.size, delta.price, ts))
            pos.add_buy(delta.size, delta.price, delta.fee)
        else:
            if self.position is None:  # a sell we cannot place against: book nothing
                return
            self.position.add_sell(delta.size, delta.price, delta.fee)
            if order.order_type is OrderType.STOP_LIMIT:
                order.triggered = True  # a stop that fills has triggered

    def _settle(self, ts: int) -> list[Command]:
        """After any order event: retire finished orders, then act on what is true now."""
        self.last_ts = max(self.last_ts, ts)
        commands: list[Command] = []
        entry = self.entry
        if entry is not None and entry.status.is_terminal:
            self.entry = None
            if self.entry_cancel_refused == entry.client_order_id:
                self.entry_cancel_refused = None
            self.backoff.forget(f"cancel {entry.client_order_id}")
            self.backoff.forget(f"query {entry.client_order_id}")
            self._reports.append(
                EntryEnded(
                    self.product_id,
                    entry.client_order_id,
                    entry.status.value,
                    entry.filled_size,
                    ts,
                )
            )
        stop = self.protection.stop
        if stop is not None and stop.triggered and self.entry is not None:
            # The stop is selling: buying more now would feed a falling market.
            commands += self._cancel_entry(CancelReason.STOP_TRIGGERED, ts)
        if self.entry is not None and (self.entry.status in _IN_DOUBT or self.entry_cancel_refused):
            commands += self._tend_entry(ts)
        commands += self._protect(ts)
        self._maybe_close(ts)
        self._trim()
        return commands

    def _protect(self, ts: int) -> list[Command]:
        if self.flatten_offset is not None and self.position is not None:
            if self.protection.flatten_offset is None:
                self.protection.flatten(self.flatten_offset)
        commands = self.protection.update(self.position, self.entry is not None, ts)
        if self.protection.dust:
            self._maybe_close(ts)  # what is left cannot be sold: the pair is free again
        return commands

    def _maybe_close(self, ts: int) -> None:
        pos = self.position
        if pos is None or self.entry is not None or self.protection.orders():
            return
        left = pos.open_size
        if left > ZERO and not self.protection.dust:
            return
        entry_price = pos.entry_price
        assert entry_price is not None
        exit_price = pos.exit_price
        self._reports.append(
            PositionClosed(
                self.product_id,
                pos.filled_size,
                entry_price,
                entry_price if exit_price is None else exit_price,
                pos.fees,
                pos.realized_pnl,
                ts,
                left,
            )
        )
        self.position = None
        self.protection.reset()

    def _trim(self) -> None:
        """Forget the oldest finished orders beyond a small archive (amortised: only
        once the dict holds twice the archive, so a stop move does not scan it)."""
        if len(self.orders) < 2 * _ARCHIVE:
            return
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
            "entry_cancel_refused": self.entry_cancel_refused,
            "position": None if self.position is None else self.position.to_dict(),
            "protection": self.protection.snapshot(),
            "backoff": self.backoff.snapshot(),
            "prints": self.prints.snapshot(),
            "trading_state": self.trading_state.value,
            "flatten_offset": None if self.flatten_offset is None else str(self.flatten_offset),
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
            engine.add_order(Order.from_dict(d))
        engine.entry = engine.orders[state["entry"]] if state["entry"] else None
        if state["position"] is not None:
            engine.position = PositionState.from_dict(
                params.product, params.trail, state["position"]
            )
        protection = state.get("protection")
        if protection is None:  # a snapshot from before the protection state machine
            protection = _legacy_protection(state, engine)
            if (
                engine.entry is not None
                and state.get("cancel_refused") == engine.entry.client_order_id
            ):
                engine.entry_cancel_refused = engine.entry.client_order_id
        else:
            engine.entry_cancel_refused = state.get("entry_cancel_refused")
        engine.backoff.restore(state.get("backoff") or {})
        engine.protection.restore(protection, engine.orders)
        if "prints" in state:
            engine.prints.restore(state["prints"])
        engine.trading_state = TradingState(state["trading_state"])
        flatten = state.get("flatten_offset")
        engine.flatten_offset = None if flatten is None else Decimal(flatten)
        engine._last_skip = state["last_skip"]
        engine.last_price = None if state["last_price"] is None else Decimal(state["last_price"])
        engine.last_ts = int(state["last_ts"])
        entry_rule.restore(state["rule"])
        return engine


def _legacy_protection(state: dict[str, Any], engine: DecisionEngine) -> dict[str, Any]:
    """The protection part of an old snapshot (five nullable fields) in today's form."""
    stop = engine.orders.get(state["stop"]) if state.get("stop") else None
    exit_ = engine.orders.get(state["exit"]) if state.get("exit") else None
    if exit_ is not None:
        pstate = ProtectionState.EXITING
    elif stop is None:
        pstate = ProtectionState.BLOCKED if state.get("stop_blocked") else ProtectionState.NONE
    elif stop.triggered:
        pstate = ProtectionState.TRIGGERED
    elif stop.status in (OrderStatus.INITIALIZED, OrderStatus.SUBMIT_UNKNOWN):
        pstate = ProtectionState.PLACING
    elif stop.status is OrderStatus.PENDING_EDIT:
        pstate = ProtectionState.EDITING
    elif stop.status.is_unsettled:
        pstate = ProtectionState.MOVING
    else:
        pstate = ProtectionState.RESTING
    cancel_refused = state.get("cancel_refused")
    return {
        "state": pstate.value,
        "stop": None if stop is None else stop.client_order_id,
        "exit": None if exit_ is None else exit_.client_order_id,
        "next_stop_id": state.get("next_stop_id"),
        "exiting": "flatten" if state.get("flatten_offset") is not None else "",
        "flatten_offset": state.get("flatten_offset"),
        "rested_trigger": None if stop is None or stop.stop_price is None else str(stop.stop_price),
        "cancel_refused": cancel_refused
        if stop and cancel_refused == stop.client_order_id
        else None,
        "edit_refused": state.get("edit_refused"),
    }
