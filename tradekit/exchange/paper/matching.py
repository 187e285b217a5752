"""The fill rules: which orders one market trade fills, how much, at what price, as what.

The paper exchange has no order book, only a stream of trades; an order fills when a
trade "touches" it. One market trade at price P and size Q:

- A resting limit BUY at L fills when P <= L, at L (never price improvement), as MAKER.
  A buy that was marketable when placed (L >= the product's last trade price) stays
  flagged "crossing" until its first fill, and that fill is TAKER (conservative: a buy
  that crosses on arrival pays the taker fee). Placement itself never fills: the paper
  exchange has no order book, only a last price, so fills happen only in `advance`.
- A STOP_DOWN stop-limit SELL (stop S, limit L <= S) triggers when P <= S: it stays
  OPEN with `triggered=True` and from then on rests as a limit sell at L.
  On its trigger trade it fills at once when P >= L, at L, as TAKER (it crossed on
  arrival; filling at L and not at P is the conservative choice, deterministic).
  When P < L (a gap down through the limit) it stays triggered and unfilled, as on
  Coinbase; it fills on a later trade with P >= L, at L, as MAKER (it was resting).
- A limit SELL at L fills when P >= L, at L; marketable on arrival (L at or below the
  last trade) its first fill is TAKER, else MAKER.
- Fill sizes: `fill_model="full"` (default) fills the whole remaining size on a touch;
  `fill_model="trade_size"` caps fills by the trade's size Q, shared in priority order
  by the orders of one side (a trade of size 0 then fills nothing). Buys and sells have
  separate budgets (a print has a buyer and a seller).
- Priority within one trade: buys by highest limit, then placement order; then sells
  already resting (triggered earlier) by lowest limit, then placement order; then stops
  triggered by this trade by highest stop, then placement order. Every order a trade
  touches gets its fill in the same `advance` call.
- Fees: `fee = price x size x rate` (maker or taker rate), exact (see `ledger`).
"""

from __future__ import annotations

from decimal import Decimal

from tradekit.exchange.paper.orders import MAKER, TAKER, Book, PaperOrder

# (order, size, liquidity): one fill a trade makes
Planned = tuple[PaperOrder, Decimal, str]


def _buy_key(o: PaperOrder) -> tuple[Decimal, int]:
    return (-o.limit_price, o.n)


def _sell_key(o: PaperOrder) -> tuple[Decimal, int]:
    return (o.limit_price, o.n)


def _stop_key(o: PaperOrder) -> tuple[Decimal, int]:
    assert o.stop_price is not None
    return (-o.stop_price, o.n)


def plan_fills(
    book: Book, price: Decimal, budget_size: Decimal | None
) -> tuple[list[Planned], list[PaperOrder]]:
    """The fills one trade at `price` makes, and the stops it triggers, in priority order.

    `budget_size`: the trade's size with the "trade_size" fill model, None with "full".
    Call it in the exact ledger context. Nothing is changed: the caller applies the plan.
    """
    plan: list[Planned] = []
    budget = budget_size
    for o in sorted((o for o in book.buys if price <= o.limit_price), key=_buy_key):
        budget = _take(plan, o, budget, TAKER if o.crossing else MAKER)
    budget = budget_size
    for o in sorted((o for o in book.sells if price >= o.limit_price), key=_sell_key):
        budget = _take(plan, o, budget, TAKER if o.crossing else MAKER)
    triggered = sorted(
        (o for o in book.stops if o.stop_price is not None and price <= o.stop_price),
        key=_stop_key,
    )
    for o in triggered:
        if price >= o.limit_price:
            budget = _take(plan, o, budget, TAKER)
    return plan, triggered


def _take(
    plan: list[Planned], o: PaperOrder, budget: Decimal | None, liquidity: str
) -> Decimal | None:
    size = o.remaining
    if budget is not None:
        size = min(size, budget)
        budget -= size
    if size > 0:
        plan.append((o, size, liquidity))
    return budget
