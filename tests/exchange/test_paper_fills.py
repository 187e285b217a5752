"""The paper fill model: marketable sells fill at the trade price, resting ones at their
limit; `sell_fills="limit"` is the pessimistic opt-in. Figures computed by hand."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from helpers.paperhelp import trade

from tradekit.core.orders import OrderStatus
from tradekit.exchange.paper import PaperExchange, PaperStateError

MAKER_FEE, TAKER_FEE = D("0.004"), D("0.006")


def market_at_101(**kwargs: object) -> PaperExchange:
    """10,000 USD and 2 BTC; BTC-USD last traded at 101.00."""
    ex = PaperExchange(balances={"USD": D("10000"), "BTC": D("2")}, **kwargs)  # type: ignore[arg-type]
    ex.advance(trade("101.00", ts=1))
    return ex


def funds(ex: PaperExchange, currency: str) -> tuple[D, D]:
    b = ex.balances()[currency]
    return b.available, b.hold


def test_a_stop_fills_at_its_trigger_trade_not_at_its_limit():
    ex = market_at_101()
    assert ex.sell_fills == "trade"
    r = ex.place_stop_limit("s", "BTC-USD", D("0.5"), D("100.00"), D("99.50"))
    (f,) = ex.advance(trade("100.00", ts=2))
    assert (f.price, f.size, f.liquidity) == (D("100.00"), D("0.5"), "TAKER")
    assert f.commission == D("0.300")  # 100.00 x 0.5 x 0.006
    order = ex.get_order(r.order_id)
    assert (order.status, order.filled_value, order.total_fees) == (
        OrderStatus.FILLED,
        D("50.00"),
        D("0.300"),
    )
    assert funds(ex, "USD") == (D("10049.700"), 0)  # 10000 + 50.00 - 0.300
    assert funds(ex, "BTC") == (D("1.5"), 0)


def test_a_gap_under_the_limit_rests_then_fills_at_the_limit_as_maker():
    ex = market_at_101()
    r = ex.place_stop_limit("s", "BTC-USD", D("0.5"), D("100.00"), D("99.50"))
    assert ex.advance(trade("99.00", ts=2)) == []  # triggered, under the limit
    order = ex.get_order(r.order_id)
    assert (order.status, order.triggered, order.filled_size) == (OrderStatus.OPEN, True, 0)
    assert funds(ex, "BTC") == (D("1.5"), D("0.5"))
    assert ex.advance(trade("99.49", ts=3)) == []  # nothing sells while P < L
    (f,) = ex.advance(trade("99.80", ts=4))  # a resting sell: its limit, maker
    assert (f.price, f.liquidity, f.commission) == (D("99.50"), "MAKER", D("0.19900"))
    assert funds(ex, "USD") == (D("10049.55100"), 0)  # 10000 + 49.75 - 0.199
    assert funds(ex, "BTC") == (D("1.5"), 0)


def test_a_partial_fill_on_the_trigger_trade_then_the_rest_at_the_limit():
    ex = market_at_101(fill_model="trade_size")
    ex.place_stop_limit("s", "BTC-USD", D("0.5"), D("100.00"), D("99.50"))
    (f1,) = ex.advance(trade("100.00", size="0.2", ts=2))
    assert (f1.price, f1.size, f1.liquidity, f1.commission) == (
        D("100.00"),
        D("0.2"),
        "TAKER",
        D("0.1200"),
    )
    (f2,) = ex.advance(trade("100.40", size="1", ts=3))
    assert (f2.price, f2.size, f2.liquidity, f2.commission) == (
        D("99.50"),
        D("0.3"),
        "MAKER",
        D("0.11940"),
    )
    # 10000 + 20.00 - 0.12 + 29.85 - 0.1194
    assert funds(ex, "USD") == (D("10049.61060"), 0)


def test_a_crossing_limit_sell_fills_at_its_first_trade_at_or_above_its_limit():
    ex = market_at_101()
    r = ex.place_limit_sell("x", "BTC-USD", D("0.5"), D("99.00"))  # under the last: crossing
    assert ex.advance(trade("98.50", ts=2)) == []  # under its limit: nothing
    (f,) = ex.advance(trade("99.70", ts=3))
    assert (f.order_id, f.price, f.liquidity) == (r.order_id, D("99.70"), "TAKER")
    assert f.commission == D("0.29910")  # 99.70 x 0.5 x 0.006
    assert funds(ex, "USD") == (D("10049.55090"), 0)  # 10000 + 49.85 - 0.2991


def test_a_limit_sell_at_the_last_price_is_crossing_too():
    ex = market_at_101()
    ex.place_limit_sell("x", "BTC-USD", D("1"), D("101.00"))
    (f,) = ex.advance(trade("101.20", ts=2))
    assert (f.price, f.liquidity) == (D("101.20"), "TAKER")


def test_a_resting_limit_sell_fills_at_its_limit_as_maker():
    ex = market_at_101()
    ex.place_limit_sell("x", "BTC-USD", D("1"), D("102.00"))  # above the last: resting
    (f,) = ex.advance(trade("103.50", ts=2))
    assert (f.price, f.liquidity, f.commission) == (D("102.00"), "MAKER", D("0.40800"))


def test_buys_still_fill_at_their_limit():
    ex = market_at_101()
    ex.place_limit_buy("b", "BTC-USD", D("1"), D("101.00"))  # crossing buy
    (f,) = ex.advance(trade("100.10", ts=2))
    assert (f.price, f.liquidity) == (D("101.00"), "TAKER")


def test_the_pessimistic_mode_fills_every_sell_at_its_limit():
    ex = market_at_101(sell_fills="limit")
    assert ex.sell_fills == "limit"
    ex.place_stop_limit("s", "BTC-USD", D("0.5"), D("100.00"), D("99.50"))
    (f,) = ex.advance(trade("100.00", ts=2))
    assert (f.price, f.liquidity, f.commission) == (D("99.50"), "TAKER", D("0.29850"))
    assert funds(ex, "USD") == (D("10049.45150"), 0)  # 10000 + 49.75 - 0.2985
    ex.place_limit_sell("x", "BTC-USD", D("0.5"), D("99.00"))  # crossing
    (g,) = ex.advance(trade("99.70", ts=3))
    assert (g.price, g.liquidity) == (D("99.00"), "TAKER")


def test_sell_fills_must_be_trade_or_limit():
    with pytest.raises(ValueError, match="sell_fills"):
        PaperExchange(sell_fills="mid")  # type: ignore[arg-type]


# ------------------------------------------------------------------ journal


def _scenario(ex: PaperExchange) -> None:
    ex.advance(trade("101.00", ts=1))
    ex.place_stop_limit("s", "BTC-USD", D("0.5"), D("100.00"), D("99.50"))
    ex.advance(trade("100.00", ts=2))


def test_the_journal_keeps_the_fill_model(tmp_path: Path):
    path = tmp_path / "paper.jsonl"
    live = PaperExchange(balances={"BTC": D("1")}, state_path=path, sell_fills="limit")
    _scenario(live)
    live.close()
    header = json.loads(path.read_text().splitlines()[0])
    assert (header["v"], header["sell_fills"]) == (2, "limit")
    restored = PaperExchange.restore(path)
    assert restored.sell_fills == "limit"
    assert restored.state() == live.state()
    restored.close()
    with pytest.raises(PaperStateError, match="sell_fills: journal has 'limit'"):
        PaperExchange(balances={"BTC": D("1")}, state_path=path)  # default "trade"


def test_a_version_1_journal_replays_with_fills_at_the_limit(tmp_path: Path):
    """Journals written before the setting existed filled every sell at its limit."""
    path = tmp_path / "paper.jsonl"
    live = PaperExchange(balances={"BTC": D("1")}, state_path=path, sell_fills="limit")
    _scenario(live)
    live.close()
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["sell_fills"]
    header["v"] = 1
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    restored = PaperExchange.restore(path)
    assert restored.sell_fills == "limit"
    assert restored.state() == live.state()
    restored.close()
    with pytest.raises(PaperStateError, match="sell_fills"):
        PaperExchange(balances={"BTC": D("1")}, state_path=path)
    header["v"] = 3
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(PaperStateError, match=r":1: .*journal version 3"):
        PaperExchange.restore(path)
