"""The fill rules: which orders one market trade fills, how much, at what price, as what.

The paper exchange has no order book, only a stream of trades; an order fills when a
trade "touches" it. Placement itself never fills a GTC order: fills happen only in
`advance`. One market trade at price P and size Q:

- BUYS fill at their limit. A resting limit BUY at L fills when P <= L, at L (never
  price improvement), as MAKER. A buy that was marketable when placed (L >= the
  product's last trade price) stays flagged "crossing" until its first fill, and that
  fill is TAKER (conservative: a buy that crosses on arrival pays the taker fee).
- SELLS that are marketable when they meet a trade fill at the trade price
  (`sell_fills="trade"`, the default): on Coinbase a marketable sell takes the resting
  bids at their own prices, down to its limit, so a trade at P >= L says the book paid P.
  - A limit SELL at L placed at or below the last trade (marketable on arrival, flagged
    "crossing" as buys are) fills on its first trade with P >= L, at P, as TAKER.
  - A limit SELL not marketable on arrival rests: it fills at L, as MAKER, when P >= L.
  - A STOP_DOWN stop-limit SELL (stop S, limit L <= S) triggers when P <= S: it stays
    OPEN with `triggered=True` and from then on rests as a limit sell at L. On its
    trigger trade it fills at once when P >= L, at P, as TAKER (a trigger at 100.00 with
    limit 99.50 sells at 100.00). When P < L (a gap down through the limit) it stays
    triggered and unfilled, as on Coinbase, and fills on a later trade with P >= L, at
    L, as MAKER (it was resting).
  - Nothing sells while P < L.
- Stop-limits of either side and direction: a STOP_DOWN stop triggers on a trade at or
  under its stop, a STOP_UP stop on a trade at or over it. Triggered, it rests as a
  limit order of its side at L; on its trigger trade it fills at once when marketable
  there (a sell: P >= L, at P; a buy: P <= L, at L), as TAKER, else it rests triggered
  (a gap through the limit) and fills later at L as MAKER.
- Immediate orders (market IOC, limit IOC, limit FOK) never meet `advance`: they fill
  at placement against the last trade price, as TAKER (see `PaperExchange`).
- `sell_fills="limit"`: the pessimistic mode, opt-in: every sell fills at its limit L
  (TAKER or MAKER as above), i.e. every stop exit pays its whole limit buffer. It is
  what the paper exchange did before, and what a journal written without the setting
  (version 1) replays with.
- Fill sizes: `fill_model="full"` (default) fills the whole remaining size on a touch;
  `fill_model="trade_size"` caps fills by the trade's size Q, shared in priority order
  by the orders of one side (a trade of size 0 then fills nothing). Buys and sells have
  separate budgets (a print has a buyer and a seller). A stop that fills in part on its
  trigger trade (TAKER, at P) rests for the rest at L (MAKER).
- Priority within one trade: buys by highest limit, then placement order; then sells
  already resting (triggered earlier) by lowest limit, then placement order; then stops
  triggered by this trade: STOP_DOWN by highest stop, then STOP_UP by lowest stop, then
  placement order (a triggered buy stop draws on the buy budget, a sell on the sell
  one). Every order a trade touches gets its fill in the same `advance` call.
- Fees follow the fill price: `fee = fill price x size x rate` (maker or taker rate),
  exact (see `ledger`).
"""

from __future__ import annotations

from decimal import Decimal

from tradekit.core.orders import OrderSide
from tradekit.exchange.paper.orders import MAKER, TAKER, Book, PaperOrder, StopDirection

# (order, price, size, liquidity): one fill a trade makes
Planned = tuple[PaperOrder, Decimal, Decimal, str]


def _buy_key(o: PaperOrder) -> tuple[Decimal, int]:
    return (-o.limit_price, o.n)


def _sell_key(o: PaperOrder) -> tuple[Decimal, int]:
    return (o.limit_price, o.n)


def _stop_key(o: PaperOrder) -> tuple[bool, Decimal, int]:
    """STOP_DOWN stops first, the highest stop first; then STOP_UP, the lowest first."""
    assert o.stop_price is not None
    up = o.stop_direction == StopDirection.STOP_UP
    return (up, o.stop_price if up else -o.stop_price, o.n)


def triggers(o: PaperOrder, price: Decimal) -> bool:
    """Whether a trade at `price` triggers the stop `o`."""
    assert o.stop_price is not None
    if o.stop_direction == StopDirection.STOP_UP:
        return price >= o.stop_price
    return price <= o.stop_price


def marketable(side: OrderSide, limit: Decimal, price: Decimal) -> bool:
    """Whether a limit order at `limit` would trade against a print at `price`."""
    return price <= limit if side is OrderSide.BUY else price >= limit


def taker_price(o: PaperOrder, price: Decimal, sells_at_trade: bool) -> Decimal:
    """What a marketable order pays or gets against a trade at `price`."""
    if o.side is OrderSide.SELL and sells_at_trade:
        return price
    return o.limit_price


def plan_fills(
    book: Book, price: Decimal, budget_size: Decimal | None, sells_at_trade: bool
) -> tuple[list[Planned], list[PaperOrder]]:
    """The fills one trade at `price` makes, and the stops it triggers, in priority order.

    `budget_size`: the trade's size with the "trade_size" fill model, None with "full".
    `sells_at_trade`: `sell_fills == "trade"`. Call it in the exact ledger context.
    Nothing is changed: the caller applies the plan.
    """
    plan: list[Planned] = []
    buy_budget = sell_budget = budget_size
    for o in sorted((o for o in book.buys if price <= o.limit_price), key=_buy_key):
        buy_budget = _take(plan, o, o.limit_price, buy_budget, TAKER if o.crossing else MAKER)
    for o in sorted((o for o in book.sells if price >= o.limit_price), key=_sell_key):
        if o.crossing:
            fill_price = taker_price(o, price, sells_at_trade)
            sell_budget = _take(plan, o, fill_price, sell_budget, TAKER)
        else:
            sell_budget = _take(plan, o, o.limit_price, sell_budget, MAKER)
    triggered = sorted((o for o in book.stops if triggers(o, price)), key=_stop_key)
    for o in triggered:
        if not marketable(o.side, o.limit_price, price):
            continue  # gapped through its limit: it rests, triggered
        fill_price = taker_price(o, price, sells_at_trade)
        if o.side is OrderSide.BUY:
            buy_budget = _take(plan, o, fill_price, buy_budget, TAKER)
        else:
            sell_budget = _take(plan, o, fill_price, sell_budget, TAKER)
    return plan, triggered


def _take(
    plan: list[Planned], o: PaperOrder, price: Decimal, budget: Decimal | None, liquidity: str
) -> Decimal | None:
    size = o.remaining
    if budget is not None:
        size = min(size, budget)
        budget -= size
    if size > 0:
        plan.append((o, price, size, liquidity))
    return budget
