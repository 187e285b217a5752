"""fetch_candles against tradekit sim over a real socket: pages under the 350 limit,
a cache that makes the second call free, a resumed download, Parquet and CSV output."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from tradekit.core.events import MarketTrade
from tradekit.data.history import PAGE, fetch_candles, pages, read_candles
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.sim.server import SimServer

NS = 10**9
MINUTES = 3 * PAGE  # three pages of one-minute candles


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    server = SimServer(
        keys_file=tmp_path_factory.mktemp("sim") / "key.json",
        rate_limit_per_s=100_000.0,
        public_rate_limit_per_s=100_000.0,
    )
    with server:
        # one trade a minute for MINUTES minutes (under the two days of one-minute bars the
        # simulator keeps), on whole pages that ended in the past: all of them cacheable
        width = PAGE * 60
        base = (int(time.time()) // width - 1) * width - MINUTES * 60
        trades = [
            MarketTrade(
                "ETH-USD", D(3000) + D(i % 37) - D(i % 11), D("0.5"), (base + 60 * i + 7) * NS
            )
            for i in range(MINUTES)
        ]
        server.call(lambda st: [st.advance(t) for t in trades])
        server.base = base  # type: ignore[attr-defined]
        yield server


class CountingRest(CoinbaseRest):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls: list[tuple[int, int]] = []

    def candles(self, product_id, start_s, end_s, granularity):
        assert (end_s - start_s) // 60 <= 350  # the endpoint's limit, never asked more
        self.calls.append((start_s, end_s))
        return super().candles(product_id, start_s, end_s, granularity)


def test_fetch_pages_caches_and_resumes(sim, tmp_path):
    base = sim.base
    start, end = base, base + MINUTES * 60
    rest = CountingRest(None, sim.base_url)
    frame = fetch_candles(
        "ETH-USD",
        start,
        end,
        cache_dir=tmp_path / "cache",
        client=rest,
        progress=False,
        base_url=sim.base_url,
        rate_per_s=1000,
    )
    assert len(frame) == MINUTES
    assert len(rest.calls) == len(list(pages(start, end, 60))) >= MINUTES // PAGE
    first = frame.iloc[0]
    assert first["start"].timestamp() == base
    assert first["open"] == D(3000) and isinstance(first["close"], D)
    assert list(frame["start"]) == sorted(frame["start"])
    # cached: the same range again asks nothing
    rest.calls.clear()
    again = fetch_candles(
        "ETH-USD",
        start,
        end,
        cache_dir=tmp_path / "cache",
        client=rest,
        progress=False,
        base_url=sim.base_url,
    )
    assert rest.calls == [] and again.equals(frame)
    # resumable: lose one page of the cache, and only that page is fetched again
    folder = next((tmp_path / "cache").rglob("ETH-USD-ONE_MINUTE"))
    lost = sorted(folder.glob("*.parquet"))[1]
    lost.unlink()
    fetch_candles(
        "ETH-USD",
        start,
        end,
        cache_dir=tmp_path / "cache",
        client=rest,
        progress=False,
        base_url=sim.base_url,
    )
    assert rest.calls == [(int(lost.stem), int(lost.stem) + PAGE * 60)]
    rest.close()


def test_output_files_and_errors(sim, tmp_path):
    base = sim.base
    out = tmp_path / "eth.parquet"
    frame = fetch_candles(
        "ETH-USD",
        base,
        base + 100 * 60,
        base_url=sim.base_url,
        cache_dir="",
        output=out,
        progress=False,
    )
    back = read_candles(out)
    assert back.attrs["product_id"] == "ETH-USD"
    assert back.equals(frame)
    csv = tmp_path / "eth.csv"
    fetch_candles(
        "ETH-USD",
        base,
        base + 10 * 60,
        base_url=sim.base_url,
        cache_dir="",
        output=csv,
        progress=False,
    )
    lines = csv.read_text().splitlines()
    assert lines[0] == "start,low,high,open,close,volume" and len(lines) == 11
    with pytest.raises(ValueError, match="granularity"):
        fetch_candles("ETH-USD", base, base + 60, "ONE_WEEK", base_url=sim.base_url)
    with pytest.raises(ValueError, match="must be after start"):
        fetch_candles("ETH-USD", base, base, base_url=sim.base_url)
    with pytest.raises(ValueError, match="ISO-8601"):
        fetch_candles("ETH-USD", "yesterday", base, base_url=sim.base_url)
    # a range with no trades: an error saying so, and no file left behind
    empty = tmp_path / "none.parquet"
    with pytest.raises(ValueError, match=r"no ONE_MINUTE candles of ETH-USD from .* no trades"):
        fetch_candles(
            "ETH-USD",
            base - 20 * 86400,
            base - 19 * 86400,
            base_url=sim.base_url,
            cache_dir="",
            output=empty,
            progress=False,
        )
    assert not empty.exists()


def test_rate_limited_by_the_simulator_still_completes(tmp_path):
    """A simulator allowing 2 public requests a second, a client asking faster: the
    adapter paces itself (or waits out the 429s) and every page arrives."""
    with SimServer(keys_file=tmp_path / "k.json", public_rate_limit_per_s=2.0) as sim:
        n = 4 * PAGE
        base = (int(time.time()) // 3600 - 2) * 3600 - n * 60
        sim.call(
            lambda st: [
                st.advance(MarketTrade("BTC-USD", D(60000 + i), D(1), (base + 60 * i) * NS))
                for i in range(n)
            ]
        )
        rest = CoinbaseRest(None, sim.base_url)
        frame = fetch_candles(
            "BTC-USD",
            base,
            base + n * 60,
            client=rest,
            cache_dir="",
            progress=False,
            rate_per_s=100,
        )
        # it was slowed down: refused (429) and tried again, or (the adapter follows the
        # limit the server announces) it waited its turn before asking
        assert rest.stats["retries"] > 0 or rest.paced_s > 0
        rest.close()
    assert len(frame) == n
