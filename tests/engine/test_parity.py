"""Sync and async engines cannot drift: the same scenario gives the same journal,
record for record (ignoring wall-clock measurements)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from tradekit.core.events import MarketTrade
from tradekit.data.generators import PricePath
from tradekit.demo import DemoSetup
from tradekit.engine._async.loop import AsyncExecutionEngine
from tradekit.engine.execution import ExecutionEngine
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.types import CancelResult, OutcomeUnknown
from tradekit.store.sqlite import Store

SEC = 10**9


class Meddling:
    """A paper exchange with one method changed by a subclass (the rest passes through)."""

    def __init__(self, inner: PaperExchange) -> None:
        self._inner, self._count = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def market_seq(self) -> int:
        return self._inner.market_seq


class LosesCancelReplies(Meddling):
    """Performs every `n`th cancel, then loses its reply: a race the engine must settle."""

    _n = 3

    def cancel_order(self, order_id: str) -> Any:
        res = self._inner.cancel_order(order_id)
        self._count += 1
        if self._count % self._n == 0:
            raise OutcomeUnknown("reply lost (test)")
        return res


class FillRacesCancel(Meddling):
    """Every 2nd cancel of a stop arrives too late: a print at the stop fills it first,
    so the cancel is refused (the race a cancel/replace must survive)."""

    def cancel_order(self, order_id: str) -> Any:
        o = self._inner.get_order(order_id)
        if o is not None and o.stop_price is not None:
            self._count += 1
            if self._count % 2 == 0:
                last = self._inner.last_price(o.product_id)
                ts = max(f.ts for f in self._inner.list_fills()) + 1
                if last is not None:
                    self._inner.advance(MarketTrade(o.product_id, o.stop_price, o.size, ts))
        return self._inner.cancel_order(order_id)


class RefusesCancels(Meddling):
    """Refuses every other cancel of a stop that still rests untriggered, for a passing
    reason (Coinbase's UNKNOWN_CANCEL_FAILURE_REASON): the engine must ask, find it
    resting, and move it again after the back-off, never assume it triggered."""

    def cancel_order(self, order_id: str) -> Any:
        o = self._inner.get_order(order_id)
        if o is not None and o.stop_price is not None and not o.triggered:
            self._count += 1
            if self._count % 2 == 1:
                return CancelResult(order_id, False, "UNKNOWN_CANCEL_FAILURE_REASON")
        return self._inner.cancel_order(order_id)


def gap_path() -> list[MarketTrade]:
    prices = [
        "60000",
        "59900",
        "59950",
        "60400",
        "60800",
        "61200",
        "58000",
        "57900",
        "60100",
        "59800",
        "59700",
        "61000",
        "61500",
        "62000",
        "59000",
        "61000",
    ]
    sizes = [
        "1",
        "0.02",
        "1",
        "1",
        "0.01",
        "1",
        "1",
        "1",
        "1",
        "0.03",
        "1",
        "1",
        "1",
        "1",
        "1",
        "1",
    ]
    return [
        MarketTrade("BTC-USD", D(p), D(s), (i + 1) * SEC, str(i))
        for i, (p, s) in enumerate(zip(prices, sizes, strict=True))
    ]


def gap_through_path() -> list[MarketTrade]:
    """Up to 61500 (stop 60885.00 / 60580.57), then a gap to 59000 under the stop's
    limit: it triggers and rests unfilled; three trades under the limit and it is
    replaced by an exit, which fills; then a new entry."""
    prices = ["60000", "59900", "59800", "60500", "61000", "61500", "59000", "58900"]
    prices += ["58800", "58700", "58800", "59000", "59500", "60000", "60500", "61000"]
    return [
        MarketTrade("BTC-USD", D(p), D("1"), (i + 1) * SEC, str(i)) for i, p in enumerate(prices)
    ]


def scenario(name: str) -> tuple[DemoSetup, list[MarketTrade], dict[str, Any]]:
    if name == "demo":
        setup = DemoSetup(seed=4, ticks=6000, volatility=1.5, pullback_pct=D("0.005"))
        return setup, setup.path().to_list(), {}
    if name == "partial-fills":
        setup = DemoSetup(seed=5, ticks=6000, volatility=1.5, pullback_pct=D("0.005"))
        trades = [
            MarketTrade(t.product_id, t.price, D("0.01"), t.ts, t.trade_id)
            for t in PricePath("BTC-USD", D("60000"), 6000, seed=5, tick_ns=5 * SEC, volatility=1.5)
        ]
        return setup, trades, {"fill_model": "trade_size"}
    if name == "fill-races-cancel":
        setup = DemoSetup(seed=6, ticks=6000, volatility=1.5, pullback_pct=D("0.005"))
        return setup, setup.path().to_list(), {"race": True}
    if name == "refused-cancels":
        setup = DemoSetup(seed=4, ticks=6000, volatility=1.5, pullback_pct=D("0.005"))
        return setup, setup.path().to_list(), {"refuse": True}
    setup = DemoSetup(seed=1, ticks=16, pullback_pct=D("0.001"), trail_pct=D("0.01"))
    if name == "gap-through-exit":
        return setup, gap_through_path(), {"gap_through": True}
    return setup, gap_path(), {"fill_model": "trade_size", "lose": True}


def journal(store: Store) -> list[tuple[Any, ...]]:
    rows = []
    for r in store.journal():
        payload = dict(r["payload"])
        payload.pop("unprotected_ms", None)  # wall clock
        rows.append((r["seq"], r["ts"], r["product_id"], r["kind"], r["type"], payload))
    return rows


def make_exchange(opts: dict[str, Any]) -> Any:
    paper = PaperExchange(balances={"USD": D("100000")}, fill_model=opts.get("fill_model", "full"))
    if opts.get("race"):
        return FillRacesCancel(paper)
    if opts.get("refuse"):
        return RefusesCancels(paper)
    return LosesCancelReplies(paper) if opts.get("lose") else paper


@pytest.mark.parametrize(
    "name",
    [
        "demo",
        "partial-fills",
        "gap-and-lost-cancel-replies",
        "fill-races-cancel",
        "gap-through-exit",
        "refused-cancels",
    ],
)
def test_sync_and_async_journals_are_identical(tmp_path, name):
    setup, trades, opts = scenario(name)

    def ticks(start: int):
        return iter(trades[start:])

    with Store(tmp_path / "sync.sqlite") as s1:
        sync = ExecutionEngine(
            setup.engine(s1, setup.exchange(), "p").decision, make_exchange(opts), s1, ticks
        )
        sync.run()
        sync_rows = journal(s1)

    async def run_async() -> list[tuple[Any, ...]]:
        with Store(tmp_path / "async.sqlite") as s2:
            decision = setup.engine(s2, setup.exchange(), "p").decision
            eng = AsyncExecutionEngine(decision, AsyncExchange(make_exchange(opts)), s2, ticks)
            await eng.run()
            return journal(s2)

    async_rows = asyncio.run(run_async())
    assert len(sync_rows) > 20
    kinds = {r[4] for r in sync_rows}
    if opts.get("gap_through"):
        # the triggered stop the market gapped under was cancelled and an exit sold
        assert {"StopGappedThrough", "ExitPlaced", "PlaceLimitSell"} <= kinds
        exits = [r[5] for r in sync_rows if r[4] == "ExitPlaced"]
        assert [e["reason"] for e in exits] == ["gap_through"]
    assert {"PlaceLimitBuy", "PlaceStopLimitSell", "CancelOrder"} <= kinds
    for a, b in zip(sync_rows, async_rows, strict=True):
        assert a == b
    if opts.get("race"):
        # the refused cancel was settled by the exchange's word: no stop after the fill
        types = [r[4] for r in sync_rows]
        assert "CancelRejected" in types and "PositionClosed" in types
        for i, t in enumerate(types):
            if t == "CancelRejected":  # the stop filled: no replacement before it closes
                rest = types[i:]
                closed = rest.index("PositionClosed")
                assert "PlaceStopLimitSell" not in rest[:closed]
    if opts.get("lose"):
        # the lost reply was settled by asking the exchange, and protection went on
        types = [r[4] for r in sync_rows]
        assert "CancelUnknown" in types
        after = types[types.index("CancelUnknown") :]
        assert "OrderStatusReport" in after and "PlaceStopLimitSell" in after
        # the entry that filled in the gap got a stop the exchange refused (the market
        # was already under it): the position exited instead of waiting unprotected
        exits = [r[5] for r in sync_rows if r[4] == "ExitPlaced"]
        assert exits and exits[0]["reason"] == "breach"
        assert "StopBreached" in types
    if opts.get("refuse"):
        # each refused cancel was settled by asking; the stop still rested, so it was
        # moved again after the back-off: the ratchet never froze
        types = [r[4] for r in sync_rows]
        refused = [i for i, t in enumerate(types) if t == "CancelRejected"]
        assert len(refused) >= 3
        for i in refused:
            assert types[i + 1 : i + 3].count("QueryOrder") == 1
        moved = [r for r in sync_rows if r[4] == "StopMoved"]
        assert len(moved) > len(refused)


SCENARIOS = [
    "demo",
    "partial-fills",
    "gap-and-lost-cancel-replies",
    "fill-races-cancel",
    "gap-through-exit",
    "refused-cancels",
]


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_loop_gives_the_same_outcome(tmp_path, name):
    """The sync loop, the async loop, the portfolio and the backtest runner take a
    trade's events from one place (`trade_events`) and handle each event's outcomes
    before the next: on the same adversarial exchange, the same journal (the runner
    keeps no journal: the same reports, commands and exchange state)."""
    from tradekit.backtest.runner import run_events
    from tradekit.engine.portfolio import Portfolio

    setup, trades, opts = scenario(name)

    def ticks(start: int):
        return iter(trades[start:])

    with Store(tmp_path / "sync.sqlite") as s1:
        exchange = make_exchange(opts)
        sync = ExecutionEngine(
            setup.engine(s1, setup.exchange(), "p").decision, exchange, s1, ticks
        )
        sync.run()
        sync_rows = journal(s1)
        sync_orders = _orders(exchange)

    async def feed():
        for t in trades:
            yield t

    async def run_portfolio() -> tuple[list[tuple[Any, ...]], list[Any]]:
        with Store(tmp_path / "portfolio.sqlite") as s3:
            decision = setup.engine(s3, setup.exchange(), "p").decision
            exchange = make_exchange(opts)
            pf = Portfolio([decision], AsyncExchange(exchange), s3, feed(), poll_after_s=3600)
            await pf.run()
            return journal(s3), _orders(exchange)

    pf_rows, pf_orders = asyncio.run(run_portfolio())
    assert [r[3:] for r in pf_rows] == [r[3:] for r in sync_rows]
    assert pf_orders == sync_orders

    with Store(":memory:") as s4:
        decision = setup.engine(s4, setup.exchange(), "p").decision
    exchange = make_exchange(opts)
    trace, _ = run_events(decision, exchange, trades)
    reports = [type(r).__name__ for _, r in trace.reports]
    journaled = [r[4] for r in sync_rows if r[3] == "report"]
    # a backtest counts its stop moves (and keeps every acknowledged stop) instead
    assert reports == [name for name in journaled if name != "StopMoved"]
    assert len(trace.stops) >= journaled.count("StopMoved") > 0
    commands = [r for r in sync_rows if r[3] == "command"]
    assert trace.commands == len(commands)
    assert _orders(exchange) == sync_orders


def _orders(exchange: Any) -> list[Any]:
    """What the exchange holds: every order's id, levels, status and fills."""
    return [
        (o.client_order_id, o.status, o.size, o.limit_price, o.stop_price, o.filled_size)
        for o in exchange.list_orders()
    ]
