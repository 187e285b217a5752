"""PortfolioMonitor on a real Portfolio (paper market, real SQLite store): it follows the
run by itself, throttles its front-end updates, its buttons act on the portfolio, it
shows an error of the background run, and it closes when the run ends.

Time is a fake clock moved by the market's own timestamps: the throttle is checked
exactly, never against the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest
from helpers.nbtools import FakeClock, require

from tradekit.core.events import MarketTrade
from tradekit.core.risk import RiskLimits
from tradekit.data.generators import PricePath
from tradekit.demo import DemoSetup
from tradekit.engine.portfolio import Portfolio
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.paper import PaperExchange
from tradekit.store.sqlite import Store

SEC = 10**9
PAIRS = {"BTC-USD": "60000", "ETH-USD": "3000"}


@pytest.fixture(autouse=True)
def _widgets():
    require("ipywidgets", "plotly", "anywidget")


def portfolio_of(store: Store, feed, *, pairs=PAIRS) -> Portfolio:
    decisions = [
        DemoSetup(
            seed=9,
            ticks=10,
            product_id=pid,
            start_price=D(price),
            volatility=1.5,
            pullback_pct=D("0.002"),
            size=D("0.01"),
        )
        .engine(store, None, "mon")
        .decision
        for pid, price in pairs.items()
    ]
    paper = PaperExchange(balances={"USD": D("1000000")})
    return Portfolio(decisions, AsyncExchange(paper), store, feed, limits=RiskLimits())


def trades(n: int, spacing_ns: int) -> list[MarketTrade]:
    paths = [
        PricePath(pid, D(p), n // len(PAIRS), seed=i + 3, tick_ns=spacing_ns * len(PAIRS))
        for i, (pid, p) in enumerate(PAIRS.items())
    ]
    merged = [t for pair in zip(*(p.to_list() for p in paths), strict=True) for t in pair]
    return sorted(merged, key=lambda t: t.ts)


def test_a_burst_of_10000_updates_makes_no_more_front_end_updates_than_the_rate(tmp_path):
    from tradekit.notebook.monitor import PortfolioMonitor

    burst = trades(10_000, spacing_ns=SEC // 1000)  # 10,000 trades over 10 s of market
    clock = FakeClock(burst[0].ts / SEC)

    async def feed() -> AsyncIterator[MarketTrade]:
        for t in burst:
            clock.now = t.ts / SEC  # the monitor's clock is the market's
            yield t

    async def run() -> tuple[PortfolioMonitor, int, float]:
        with Store(tmp_path / "m.sqlite") as store:
            pf = portfolio_of(store, feed())
            monitor = PortfolioMonitor(pf, max_updates_per_s=4, clock=clock, start=False)
            sent: list[str] = []
            monitor.status_html.observe(lambda change: sent.append(change["new"]), "value")
            start = clock.now
            await pf.run()
            elapsed = clock.now - start
            monitor.close()
            return monitor, len(sent), elapsed

    monitor, status_sends, elapsed = asyncio.run(run())
    assert monitor.steps_seen >= 10_000
    assert 9.9 <= elapsed <= 10.0
    # at most 4 a second of the clock, plus the first draw and the closing one
    bound = 4 * elapsed + 1 + 2
    assert monitor.frontend_updates <= bound, (monitor.frontend_updates, bound)
    assert status_sends <= monitor.frontend_updates
    # ...and it did keep drawing during the burst (not once at the end)
    assert monitor.frontend_updates >= 4 * elapsed * 0.9
    shown = monitor.charts["BTC-USD"]  # the first tab; the others are sent when chosen
    assert 4 * elapsed * 0.9 <= shown.frontend_updates <= bound
    eth = monitor.charts["ETH-USD"]
    assert eth.frontend_updates <= 2  # built, and nothing since
    monitor.tabs.selected_index = 1  # chosen: it catches up at once
    assert len(eth.widget.data[0].x) == eth.points > 1000


def test_the_status_shows_figures_for_people_and_keeps_the_exact_ones_on_hover(tmp_path):
    from tradekit.notebook.monitor import PortfolioMonitor

    burst = trades(4000, spacing_ns=SEC)

    async def feed() -> AsyncIterator[MarketTrade]:
        for t in burst:
            yield t

    async def run() -> tuple[str, list[dict]]:
        with Store(tmp_path / "m.sqlite") as store:
            pf = portfolio_of(store, feed())
            monitor = PortfolioMonitor(pf, start=False)
            await pf.run()
            monitor.close()
            return monitor.status_html.value, pf.status(), monitor.header.value

    html_text, rows, header = asyncio.run(run())
    for row in rows:
        inc = row["product"].quote_increment
        shown = re.search(
            rf"data-pair='{row['product_id']}'>.*?data-col='last_price'>([^<]+)<", html_text
        ).group(1)
        assert shown == f"{row['last_price'].quantize(inc):,f}"
        assert f"title='{row['last_price']}'" in html_text  # exact on hover
    assert "stopped" in header  # it said the run ended
    # money to the cent in the header (no long decimals anywhere)
    assert not re.search(r"\d\.\d{3,}", header)
    assert re.search(r"P&amp;L <b>[+-]?[\d,]+\.\d\d", header)


def test_the_buttons_pause_a_pair_kill_with_confirmation_and_stop(tmp_path):
    from tradekit.notebook.monitor import PortfolioMonitor

    path = trades(200_000, spacing_ns=SEC)

    async def feed() -> AsyncIterator[MarketTrade]:
        for i, t in enumerate(path):
            yield t
            if i % 50 == 49:
                await asyncio.sleep(0.001)

    async def run() -> dict:
        with Store(tmp_path / "m.sqlite") as store:
            pf = portfolio_of(store, feed())
            handle = pf.start()
            monitor = PortfolioMonitor(pf, max_updates_per_s=20)
            await until(lambda: pf.started and pf.stats.messages > 100)
            # pause one pair
            monitor.pair_buttons["ETH-USD"].click()
            await until(lambda: pf.pair_status("ETH-USD")["state"] == "PAUSED")
            await until(lambda: monitor.pair_buttons["ETH-USD"].description == "resume ETH-USD")
            paused_html = monitor.status_html.value
            # the kill switch asks first
            monitor.kill_button.click()
            assert monitor.kill_box.layout.display == "flex"
            assert all(r["state"] != "HALTED" for r in pf.status())
            monitor.kill_choice.value = "flatten"
            monitor.kill_confirm.click()
            assert monitor.kill_box.layout.display == "none"
            await until(lambda: all(r["state"] == "HALTED" for r in pf.status()))
            halts = [
                r
                for r in store.journal(kinds="event")
                if r["type"] == "TradingStateChanged" and r["payload"]["state"] == "HALTED"
            ]
            # stop: the monitor says so and lets go
            monitor.stop_button.click()
            await until(lambda: monitor.closed)
            await handle.wait()
            monitor.pair_buttons["BTC-USD"].click()  # disabled in a browser; by code: refused
            return {
                "paused_html": paused_html,
                "halts": halts,
                "header": monitor.header.value,
                "errors": list(monitor.errors),
                "disabled": monitor.kill_button.disabled,
                "watchers": len(pf._steps.watchers),
            }

    out = asyncio.run(run())
    assert re.search(
        r"data-pair='ETH-USD'><td[^>]*>ETH-USD</td><td[^>]*>paused<", out["paused_html"]
    )
    assert {h["product_id"] for h in out["halts"]} == set(PAIRS)
    assert all(h["payload"]["flatten_offset_pct"] is not None for h in out["halts"])
    assert "stopped" in out["header"] and out["disabled"] and out["watchers"] == 0
    # a control on a stopped portfolio is an error that says so, shown in the error area
    assert any("the portfolio has stopped" in e for e in out["errors"]), out["errors"]


def test_an_error_of_the_background_run_is_shown_not_lost(tmp_path):
    from tradekit.notebook.monitor import PortfolioMonitor

    async def feed() -> AsyncIterator[MarketTrade]:
        for t in trades(100, spacing_ns=SEC):
            yield t
        raise ConnectionError("the feed broke (test)")

    async def run() -> PortfolioMonitor:
        with Store(tmp_path / "m.sqlite") as store:
            pf = portfolio_of(store, feed())
            handle = pf.start()
            monitor = PortfolioMonitor(pf, max_updates_per_s=50)
            with contextlib.suppress(ConnectionError):
                await handle.wait()
            await until(lambda: monitor.closed)
            return monitor

    monitor = asyncio.run(run())
    assert "ConnectionError: the feed broke (test)" in monitor.error_area.value
    assert "stopped" in monitor.header.value


async def until(check, timeout: float = 10.0) -> None:
    """Wait (bounded) until `check()` holds, letting the loop run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


def test_a_feed_fault_shows_while_it_lasts_and_clears_when_it_ends(tmp_path):
    from tradekit.exchange.coinbase._async.feed import FeedStats
    from tradekit.notebook.monitor import FAULT_CLEARS_AFTER_S, PortfolioMonitor

    class Feed:
        stats = FeedStats()

    async def nothing() -> AsyncIterator[MarketTrade]:
        return
        yield

    clock = FakeClock(100.0)
    stats = Feed.stats
    long_error = "fault: ws_drop_after; then sent 1011 (keepalive ping timeout) " * 4

    def feed_line(monitor) -> str:
        monitor._dirty = True
        monitor.refresh()
        return monitor.feed_html.value

    with Store(tmp_path / "f.sqlite") as store:
        pf = portfolio_of(store, nothing())
        monitor = PortfolioMonitor(pf, feed=Feed, clock=clock, start=False)
        assert "trouble" not in feed_line(monitor)
        # the connection drops again and again: the line stays while reconnects climb
        for i in range(5):
            stats.last_error, stats.reconnects = long_error, i + 1
            stats.messages += 20
            clock.now += 1.0
            line = feed_line(monitor)
            assert "feed trouble now" in line
        # shortened at a word with the whole text on hover, never cut inside a word
        shown = re.search(r">feed trouble now: ([^<]+)<", line).group(1)
        assert shown.endswith(" …") and len(shown) <= 170
        assert f"title='{long_error}'" in line.replace("&#x27;", "'")
        # the fault ends: messages flow, no new error; after a few seconds the line goes
        stats.messages += 200
        clock.now += FAULT_CLEARS_AFTER_S / 2
        assert "feed trouble now" in feed_line(monitor)
        clock.now += FAULT_CLEARS_AFTER_S
        assert "trouble" not in feed_line(monitor)
        assert "reconnects 5" in feed_line(monitor)  # the figures keep the history
        # silence after an error is not an end: the line stays until messages come
        stats.reconnects = 6
        clock.now += 1
        feed_line(monitor)
        clock.now += 10 * FAULT_CLEARS_AFTER_S
        assert "feed trouble now" in feed_line(monitor)
        monitor.close()
