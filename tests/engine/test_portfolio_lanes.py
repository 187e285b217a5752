"""No pair waits on another pair's REST calls: each pair's events are handled in its own
lane, so a pair whose calls hang (or fail and back off) holds up nobody else, the feed
keeps being read, and what the pairs share (the risk limits, the controls, the store)
stays right under that concurrency.

The exchange is the paper exchange seen as a live one (`LiveLike`: no `advance`; the
test's market moves the book and reports the fills as a user channel would), with one
pair's REST calls held on an `asyncio.Event` or refused as transient trouble. Every
assertion is about events, orders and stops; waits are bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D
from typing import Any

import pytest

from tradekit.core.decision import DecisionEngine
from tradekit.core.entry import FixedOffsetEntry
from tradekit.core.events import MarketTrade, TradingState
from tradekit.core.orders import OrderType
from tradekit.core.risk import RiskLimits
from tradekit.demo import DemoSetup
from tradekit.engine._async.driver import StepResult, fill_event
from tradekit.engine.portfolio import ExchangeHalted, Portfolio
from tradekit.exchange.coinbase.common import AuthenticationError
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.types import OutcomeUnknown
from tradekit.store.sqlite import Store

A, B = "BTC-USD", "ETH-USD"  # A's calls are held or refused; B trades
PRICE = {A: D("60000"), B: D("3000")}
SIZE = {A: D("0.01"), B: D("0.1")}
BOUND_S = 10.0  # every wait; a test never takes longer than a few of them


class LiveLike:
    """The paper exchange as the portfolio sees a live one: no `advance`, and every
    call of a pair passes its gate first, which a test can close (`hold`: the call waits
    for `release`), or make fail as transient trouble (`refused`) or for good
    (`revoked`: the key refused)."""

    can_edit_stops = False

    def __init__(self, paper: PaperExchange) -> None:
        self.paper = paper
        self.gates: dict[str, asyncio.Event] = {}
        self.refused: set[str] = set()
        self.revoked: set[str] = set()
        self.waiting: Counter[str] = Counter()  # calls held at a gate now
        self.calls: Counter[str] = Counter()

    def hold(self, pid: str) -> None:
        self.gates[pid] = asyncio.Event()

    def release(self, pid: str) -> None:
        self.gates.pop(pid).set()

    async def _gate(self, pid: str) -> None:
        self.calls[pid] += 1
        gate = self.gates.get(pid)
        if gate is not None:
            self.waiting[pid] += 1
            try:
                await gate.wait()
            finally:
                self.waiting[pid] -= 1
        if pid in self.refused:
            raise OutcomeUnknown(f"{pid}: HTTP 503 (test)")
        if pid in self.revoked:
            raise AuthenticationError(f"{pid}: key revoked (test)")

    def _pid(self, order_id: str) -> str:
        o = self.paper.get_order(order_id)
        return "" if o is None else o.product_id

    async def place_limit_buy(self, coid: str, pid: str, size: D, limit: D) -> Any:
        await self._gate(pid)
        return self.paper.place_limit_buy(coid, pid, size, limit)

    async def place_limit_sell(self, coid: str, pid: str, size: D, limit: D) -> Any:
        await self._gate(pid)
        return self.paper.place_limit_sell(coid, pid, size, limit)

    async def place_stop_limit(self, coid: str, pid: str, size: D, stop: D, limit: D) -> Any:
        await self._gate(pid)
        return self.paper.place_stop_limit(coid, pid, size, stop, limit)

    async def cancel_order(self, order_id: str) -> Any:
        await self._gate(self._pid(order_id))
        return self.paper.cancel_order(order_id)

    async def get_order(self, order_id: str) -> Any:
        await self._gate(self._pid(order_id))
        return self.paper.get_order(order_id)

    async def get_order_by_client_id(self, coid: str) -> Any:
        await self._gate(A if coid.startswith("a-") else B)
        return self.paper.get_order_by_client_id(coid)

    async def list_fills(self, order_id: str | None = None) -> Any:
        await self._gate("" if order_id is None else self._pid(order_id))
        return self.paper.list_fills(order_id=order_id)

    async def list_open_orders(self, pid: str) -> Any:
        await self._gate(pid)
        return self.paper.list_open_orders(pid)


class Market:
    """The test's market: a print moves the paper book, and the feed sends the fills
    it caused (as the user channel would, unless `silent`) before the print itself."""

    def __init__(self, paper: PaperExchange, silent: bool = False) -> None:
        self.paper = paper
        self.silent = silent
        self.queue: asyncio.Queue[MarketTrade | None] = asyncio.Queue()
        self.printed: list[MarketTrade] = []
        self.sent = 0  # events the feed yielded

    def print(self, pid: str, price: str | D) -> MarketTrade:
        trade = MarketTrade(pid, D(price), D("1"), time.time_ns())
        self.printed.append(trade)
        self.queue.put_nowait(trade)
        return trade

    def close(self) -> None:
        self.queue.put_nowait(None)

    async def feed(self) -> AsyncIterator[Any]:
        while (trade := await self.queue.get()) is not None:
            fills = self.paper.advance(trade)
            if not self.silent:
                for f in fills:
                    self.sent += 1
                    yield fill_event(f)
            self.sent += 1
            yield trade


def decision(pid: str) -> DecisionEngine:
    setup = DemoSetup(product_id=pid, size=SIZE[pid])  # a 1.5 % trail, 0.1 % ratchet
    return DecisionEngine(setup.params(), FixedOffsetEntry(D("0.0005")), pid[0].lower())


def portfolio(
    tmp_path: Any, silent: bool = False, **kw: Any
) -> tuple[Portfolio, LiveLike, Market, Store]:
    paper = PaperExchange(balances={"USD": D("1000000")})
    exchange = LiveLike(paper)
    market = Market(paper, silent)
    store = Store(tmp_path / "lanes.sqlite")
    kw.setdefault("poll_after_s", 0.2 if silent else 3600)
    kw.setdefault("stale_after_s", 3600)  # nothing here is about staleness
    pf = Portfolio([decision(A), decision(B)], exchange, store, market.feed, **kw)
    return pf, exchange, market, store


async def eventually(cond: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + BOUND_S
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {BOUND_S} s: {what}")
        await asyncio.sleep(0.01)
    return value


def live_stops(exchange: LiveLike, pid: str) -> list[Any]:
    return [o for o in exchange.paper.list_open_orders(pid) if o.order_type is OrderType.STOP_LIMIT]


def protected(pf: Portfolio, exchange: LiveLike, pid: str) -> bool:
    """The pair holds a position and the exchange has exactly its stop, at its trigger."""
    d = pf.drivers[pid].decision
    stops = live_stops(exchange, pid)
    return (
        d.position is not None
        and len(stops) == 1
        and d.stop is not None
        and stops[0].order_id == d.stop.order_id
        and stops[0].stop_price == d.position.stop_trigger
    )


def trade_steps(steps: list[tuple[str, StepResult]], pid: str) -> list[MarketTrade]:
    return [s.event for p, s in steps if p == pid and isinstance(s.event, MarketTrade)]


async def b_enters_is_protected_and_trails(pf: Portfolio, ex: LiveLike, market: Market) -> D:
    """B's entry is placed, filled and protected, then a rally moves its stop up;
    returns the first trigger."""
    market.print(B, "3000")
    entry = await eventually(lambda: pf.drivers[B].decision.entry, "B's entry placed")
    await eventually(lambda: entry.order_id is not None, "B's entry accepted")
    market.print(B, "2990")  # through B's limit: filled
    await eventually(lambda: protected(pf, ex, B), "B's entry filled and protected")
    first = pf.drivers[B].decision.position.stop_trigger
    for price in ("3030", "3060", "3090"):
        market.print(B, price)
    await eventually(
        lambda: protected(pf, ex, B) and pf.drivers[B].decision.position.stop_trigger > first,
        "B's stop moved up with the rally",
    )
    return first


@pytest.mark.asyncio
@pytest.mark.parametrize("user_channel", ["reports fills", "silent"])
async def test_a_pair_whose_calls_hang_holds_up_no_other_pair(tmp_path, user_channel):
    """A's REST calls hang from its first one (its recovery): B still recovers, enters,
    is protected when filled (from the user channel, or from its own REST poll when the
    channel is silent) and trails its stop up; each pair sees its own prints in order.
    When A's calls answer again, A catches up and trades."""
    pf, ex, market, store = portfolio(tmp_path, silent=user_channel == "silent")
    steps: list[tuple[str, StepResult]] = []
    pf.watch(lambda pid, step: steps.append((pid, step)))
    ex.hold(A)
    with store:
        handle = pf.start()
        market.print(A, "60000")
        await eventually(lambda: pf.health[B].recovered, "B recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        # all the while, A's first call waits and A decided nothing
        assert ex.waiting[A] == 1 and ex.calls[A] == 1
        assert not pf.health[A].recovered and pf.drivers[A].decision.entry is None
        # B saw every print of its own, in order (those a newer one followed in its
        # queue only observed), and decided on its newest
        b_prints = [t for t in market.printed if t.product_id == B]
        decided = trade_steps(steps, B)
        assert decided == [t for t in b_prints if t in decided] and decided[-1] == b_prints[-1]
        assert pf.drivers[B].cursor == len(b_prints)
        assert trade_steps(steps, A) == []

        ex.release(A)
        await eventually(lambda: pf.health[A].recovered, "A recovered once answered")
        market.print(A, "60010")
        entry = await eventually(lambda: pf.drivers[A].decision.entry, "A's entry placed")
        await eventually(lambda: entry.order_id is not None, "A's entry accepted")
        await eventually(lambda: len(trade_steps(steps, A)) == 2, "A's prints handled")
        assert [t.price for t in trade_steps(steps, A)] == [D("60000"), D("60010")]
        assert protected(pf, ex, B)
        market.close()
        await asyncio.wait_for(handle.wait(), BOUND_S)
        assert handle.exception is None and pf.finished
        assert pf.stats.messages == market.sent  # the router lost nothing


@pytest.mark.asyncio
async def test_a_pair_in_rest_trouble_backs_off_while_the_others_trade(tmp_path):
    """A's calls fail (transient): A is degraded and retried with back-off (its poll),
    and meanwhile B trades as if nothing happened; once A's calls answer, it heals."""
    pf, ex, market, store = portfolio(tmp_path, poll_after_s=0.1)
    ex.refused.add(A)
    with store:
        handle = pf.start()
        market.print(A, "60000")
        await eventually(lambda: pf.health[A].degraded, "A degraded")
        await b_enters_is_protected_and_trails(pf, ex, market)
        await eventually(lambda: pf.health[A].errors >= 2, "A retried after its back-off")
        assert pf.health[A].degraded and not pf.health[A].recovered
        ex.refused.discard(A)
        await eventually(lambda: not pf.health[A].degraded, "A healed")
        assert pf.health[A].recovered and protected(pf, ex, B)
        notes = [r["payload"]["text"] for r in store.journal(product_id=A, kinds="note")]
        assert any("degraded" in n for n in notes) and any("recovered after" in n for n in notes)
        await handle.stop()
        assert handle.exception is None


@pytest.mark.asyncio
async def test_an_entry_in_flight_counts_against_the_limits_of_every_pair(tmp_path):
    """Risk limits under concurrency: A's entry is reserved (it counts as an open
    position) before its placement is sent, so while that placement hangs, B's entry
    signal is refused by max_open_positions=1; nothing lets both through."""
    pf, ex, market, store = portfolio(tmp_path, limits=RiskLimits(max_open_positions=1))
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        ex.hold(A)
        market.print(A, "60000")
        await eventually(lambda: ex.waiting[A] == 1, "A's placement sent and waiting")
        market.print(B, "3000")
        skipped = await eventually(
            lambda: [
                r["payload"]["reason"]
                for r in store.journal(product_id=B, kinds="report")
                if r["type"] == "EntrySkipped"
            ],
            "B's entry refused",
        )
        assert skipped == ["max open positions: 1 of 1 in use"]
        assert pf.drivers[B].decision.entry is None
        assert [o for o in ex.paper.list_orders() if o.product_id == B] == []
        ex.release(A)
        entry = pf.drivers[A].decision.entry
        await eventually(lambda: entry.order_id is not None, "A's entry accepted")
        assert [o.product_id for o in ex.paper.list_open_orders()] == [A]
        await handle.stop()


@pytest.mark.asyncio
async def test_controls_reach_each_pair_in_its_own_lane(tmp_path):
    """A pause of B is done while A's call hangs; the kill switch halts B at once and
    A as soon as its call returns (in A's order: after the step it was in); stop()
    while A still hangs returns, and leaves B's stop on the exchange."""
    pf, ex, market, store = portfolio(tmp_path)
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        ex.hold(A)
        market.print(A, "60000")
        await eventually(lambda: ex.waiting[A] == 1, "A's placement waiting")
        await asyncio.wait_for(pf.pause(B), BOUND_S)
        assert pf.drivers[B].decision.trading_state is TradingState.PAUSED
        killed = pf.kill()
        await eventually(
            lambda: pf.drivers[B].decision.trading_state is TradingState.HALTED, "B halted"
        )
        assert not killed.done() and ex.waiting[A] == 1
        assert pf.drivers[A].decision.trading_state is TradingState.ACTIVE
        ex.release(A)
        await asyncio.wait_for(killed, BOUND_S)
        a = pf.drivers[A].decision
        assert a.trading_state is TradingState.HALTED
        entry = a.orders[sorted(a.orders)[0]]
        await eventually(lambda: entry.status.is_terminal, "A's entry cancelled by the kill")
        assert protected(pf, ex, B)  # the kill leaves stops in place
        await handle.stop()


@pytest.mark.asyncio
async def test_stop_returns_while_a_pair_hangs_and_leaves_the_stops(tmp_path):
    pf, ex, market, store = portfolio(tmp_path)
    ex.hold(A)
    with store:
        handle = pf.start()
        await eventually(lambda: pf.health[B].recovered, "B recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        assert ex.waiting[A] == 1
        await asyncio.wait_for(handle.stop(), BOUND_S)
        assert not handle.running and handle.exception is None
        assert [t for t in asyncio.all_tasks() if "_serve" in repr(t.get_coro())] == []
        assert protected(pf, ex, B)  # its stop stays on the exchange
        assert ex.waiting[A] == 0  # the hanging call was cancelled with its lane


@pytest.mark.asyncio
async def test_a_lane_that_fails_ends_the_run_with_its_error(tmp_path):
    """A permanent error in one pair's lane ends the whole run (stops left in place),
    surfaced on the handle, as it did with one sequential loop."""
    pf, ex, market, store = portfolio(tmp_path)
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        ex.revoked.add(A)
        market.print(A, "60000")
        await asyncio.wait({handle.task}, timeout=BOUND_S)
        assert isinstance(handle.exception, ExchangeHalted)
        assert "key revoked" in str(handle.exception)


@pytest.mark.asyncio
async def test_a_pair_behind_the_market_moves_its_stop_once_on_the_newest_price(tmp_path):
    """Prints that waited too long in a pair's lane (here: every print, stale_after_s=0)
    are observed, not decided on; once the lane and the feed are drained, the pair
    decides once, on the highs it saw: one stop move, to the trail below the newest."""
    pf, ex, market, store = portfolio(tmp_path)
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        stops_before = len(store.stop_history(B))
        pf.stale_after_s = 0.0
        for price in ("3130", "3160", "3200"):
            market.print(B, price)
        d = pf.drivers[B].decision
        want = d.product.price_down(D("3200") * (1 - d.params.trail.trail_pct))
        await eventually(
            lambda: protected(pf, ex, B) and d.position.stop_trigger == want, "B caught up"
        )
        assert pf.stats.deferred == 3 and not pf.behind
        assert len(store.stop_history(B)) == stops_before + 1  # one move, not three
        await handle.stop()


@pytest.mark.asyncio
async def test_prints_that_queued_behind_a_slow_call_are_decided_once_on_the_newest(tmp_path):
    """B's stop move waits on the exchange while two more prints arrive: when the call
    returns, B does not move its stop for each print in turn (each move more REST calls,
    on a price already old), but observes the first and decides on the newest."""
    pf, ex, market, store = portfolio(tmp_path)
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        stops_before = len(store.stop_history(B))
        superseded = pf.stats.superseded
        ex.hold(B)
        market.print(B, "3130")  # a stop move: its cancel waits at the gate
        await eventually(lambda: ex.waiting[B] == 1, "B's stop move waiting")
        market.print(B, "3160")
        market.print(B, "3200")
        await eventually(lambda: len(pf._lanes[B].items) == 2, "both prints queued for B")
        ex.release(B)
        d = pf.drivers[B].decision
        want = d.product.price_down(D("3200") * (1 - d.params.trail.trail_pct))
        await eventually(
            lambda: protected(pf, ex, B) and d.position.stop_trigger == want, "B decided on 3200"
        )
        assert pf.stats.superseded == superseded + 1 and pf.stats.deferred == 0
        assert len(store.stop_history(B)) == stops_before + 2  # 3130's move, then 3200's
        await handle.stop()
