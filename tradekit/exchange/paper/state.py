"""The paper exchange's state and the only code that changes it, and its journal replay.

Orders, fills, wallets and the books change in the `_apply_*` methods only: the live
path (`PaperExchange`, the facade) writes a journal record first (`_write`), then
applies it; a restart reads the same records back through the same methods (`_replay`).
`PaperExchange` inherits them; the facade holds the placement rules and the reads.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

from tradekit.core.events import MarketTrade
from tradekit.core.money import EXACT_CONTEXT, ZERO, plain
from tradekit.core.orders import OrderStatus, OrderType
from tradekit.exchange.paper import journal as jr
from tradekit.exchange.paper.journal import Bad, Journal
from tradekit.exchange.paper.ledger import Ledger
from tradekit.exchange.paper.orders import Book, PaperOrder, TimeInForce
from tradekit.exchange.types import Fill

__all__ = ["PaperState"]


class PaperState:
    """The state transitions of `PaperExchange` (its slots hold the state)."""

    __slots__ = ("_books", "_by_coid", "_fills", "_journal", "_ledger", "_orders", "_seq")

    _books: dict[str, Book]
    _by_coid: dict[str, PaperOrder]
    _fills: list[Fill]
    _journal: Journal | None
    _ledger: Ledger
    _orders: dict[str, PaperOrder]
    _seq: int

    def _apply_place(self, o: PaperOrder) -> None:
        if o.order_id in self._orders:
            raise Bad(f"order {o.order_id} placed twice")
        if o.client_order_id in self._by_coid:
            raise Bad(f"client_order_id {o.client_order_id} used twice")
        book = self._books.get(o.product_id)
        if book is None:
            raise Bad(f"unknown product {o.product_id!r}")
        if (o.stop_price is None) != (o.order_type is OrderType.LIMIT) or (
            o.stop_price is None
        ) != (o.stop_direction is None):
            raise Bad(f"order {o.order_id}: not a limit or a stop-limit order")
        immediate = o.time_in_force != TimeInForce.GTC
        if immediate and o.stop_price is not None:
            raise Bad(f"order {o.order_id}: a stop-limit is GTC")
        with localcontext(EXACT_CONTEXT):
            self._ledger.reserve(o, book.spec)
        self._orders[o.order_id] = o
        self._by_coid[o.client_order_id] = o
        if not immediate:  # an IOC or FOK order never rests
            book.add(o)

    def _apply_immediate(self, o: PaperOrder, fills: list[Fill]) -> None:
        if o.time_in_force == TimeInForce.GTC:
            raise Bad(f"order {o.order_id} is not an immediate order")
        if any(f.order_id != o.order_id for f in fills):
            raise Bad(f"a fill of another order in the placement of {o.order_id}")
        self._apply_place(o)
        with localcontext(EXACT_CONTEXT):
            for fill in fills:
                self._apply_fill(fill)
        if o.status is OrderStatus.OPEN:  # what it could not fill is cancelled at once
            self._apply_cancel(o.order_id)

    def _apply_cancel(self, order_id: str) -> None:
        o = self._open_order(order_id)
        book = self._books[o.product_id]
        with localcontext(EXACT_CONTEXT):
            self._ledger.release(o, book.spec)
        o.status = OrderStatus.CANCELLED
        book.discard(o)

    def _apply_edit(
        self,
        order_id: str,
        size: Decimal,
        limit: Decimal,
        stop: Decimal | None,
        crossing: bool,
    ) -> None:
        o = self._open_order(order_id)
        if (stop is None) != (o.order_type is OrderType.LIMIT):
            raise Bad(f"order {order_id}: stop price {stop} for a {o.order_type.value} order")
        if o.triggered and stop != o.stop_price:
            raise Bad(f"order {order_id}: the stop price of a triggered stop changed")
        if limit <= 0 or size <= o.filled_size:
            raise Bad(f"order {order_id}: edit to size {size}, limit {limit}")
        book = self._books[o.product_id]
        self._ledger.resize(o, book.spec, EXACT_CONTEXT.subtract(size, o.filled_size), limit)
        o.size = size
        o.limit_price = limit
        o.stop_price = stop
        o.crossing = crossing
        book.refresh()

    def _apply_tick(self, trigger_ids: list[str], fills: list[Fill]) -> None:
        touched: set[str] = set()
        for order_id in trigger_ids:
            o = self._open_order(order_id)
            if o.order_type is not OrderType.STOP_LIMIT or o.triggered:
                raise Bad(f"order {order_id} cannot trigger")
            o.triggered = True
            self._books[o.product_id].trigger(o)
            touched.add(o.product_id)
        with localcontext(EXACT_CONTEXT):
            for fill in fills:
                self._apply_fill(fill)
                touched.add(fill.product_id)
        for product_id in touched:
            self._books[product_id].refresh()

    def _apply_fill(self, f: Fill) -> None:
        o = self._open_order(f.order_id)
        if f.product_id != o.product_id or f.side is not o.side:
            raise Bad(f"fill {f.trade_id} does not match order {o.order_id}")
        if o.order_type is OrderType.STOP_LIMIT and not o.triggered:
            raise Bad(f"fill {f.trade_id}: stop {o.order_id} has not triggered")
        if not ZERO < f.size <= o.remaining:
            raise Bad(f"fill {f.trade_id}: size {f.size}, order remaining {o.remaining}")
        book = self._books[o.product_id]
        o.filled_size += f.size
        o.filled_value += f.price * f.size
        o.fees += f.commission
        o.crossing = False
        self._ledger.settle(o, book.spec, f)
        if o.remaining == 0:
            o.status = OrderStatus.FILLED
            if o.hold:  # only a buy filled under its limit leaves a rest
                self._ledger.release(o, book.spec)
            book.discard(o)
        self._fills.append(f)

    def _open_order(self, order_id: str) -> PaperOrder:
        o = self._orders.get(order_id)
        if o is None:
            raise Bad(f"unknown order {order_id!r}")
        if o.status is not OrderStatus.OPEN:
            raise Bad(f"order {order_id} is {o.status.value}, not OPEN")
        return o

    # ----------------------------------------------------------------- journal

    def _write(self, make: Callable[[], dict[str, Any]]) -> None:
        """Append one record (with the market position) and make it durable; `make`
        builds it, only when there is a journal (a backtest's exchange has none and
        formats nothing)."""
        if self._journal is None:
            return
        record = make()
        record["seq"] = self._seq
        record["last"] = {
            pid: [plain(b.last.price), b.last.ts, plain(b.last.size)]
            for pid, b in self._books.items()
            if b.last is not None
        }
        self._journal.append(record)

    def _replay(self, rec: dict[str, Any]) -> None:
        op = rec.get("op")
        if op == "place":
            self._apply_place(jr.order_from_record(rec["order"], len(self._orders) + 1))
        elif op == "immediate":
            self._apply_immediate(
                jr.order_from_record(rec["order"], len(self._orders) + 1),
                [jr.fill_from_record(f) for f in rec["fills"]],
            )
        elif op == "cancel":
            self._apply_cancel(str(rec["order_id"]))
        elif op == "edit":
            self._apply_edit(
                str(rec["order_id"]),
                jr.dec(rec["size"]),
                jr.dec(rec["limit_price"]),
                jr.opt_dec(rec["stop_price"]),
                jr.flag(rec["crossing"], "crossing"),
            )
        elif op == "tick":
            triggers = rec["triggers"]
            if not isinstance(triggers, list):
                raise Bad("triggers is not a list")
            self._apply_tick(
                [str(t) for t in triggers], [jr.fill_from_record(f) for f in rec["fills"]]
            )
        else:
            raise Bad(f"unknown op {op!r}")
        seq = rec["seq"]
        if type(seq) is not int or seq < self._seq:
            raise Bad(f"seq {seq!r} after seq {self._seq}")
        self._seq = seq
        for pid, last in rec["last"].items():
            if pid not in self._books:
                raise Bad(f"unknown product {pid!r}")
            price, ts, *size = last  # [price, ts] in version 1, [price, ts, size] since
            if len(size) > 1:
                raise Bad(f"last {last!r}")
            qty = jr.dec(size[0]) if size else ZERO
            self._books[pid].last = MarketTrade(pid, jr.dec(price), qty, int(ts))
