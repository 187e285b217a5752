"""Bad prints and oversized orders stopped in front of the rules (tradekit.core.sanity)."""

from decimal import Decimal as D

import pytest

from tradekit.core import (
    DecisionEngine,
    EntrySkipped,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderFilled,
    PairParams,
    PlaceLimitBuy,
    PrintFilter,
    PrintIgnored,
    ProductSpec,
    SanityParams,
    TrailParams,
)

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))
SEC = 1_000_000_000


def engine(size="0.5", **sanity):
    params = PairParams(
        BTC,
        TrailParams(D("0.02"), D("0.005")),
        60 * SEC,
        size=D(size),
        sanity=SanityParams(**sanity),
    )
    return DecisionEngine(params, FixedOffsetEntry(D("0.01")), "r")


def trade(price, t):
    return MarketTrade("BTC-USD", D(price), D("1"), t * SEC)


def test_one_bad_print_does_not_move_the_stop():
    """The issue's case: one +10 % print moved the stop above the market."""
    e = engine(print_band_pct=D("0.05"), confirm_trades=3)
    [buy] = e.handle(trade("60000", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("59400"), D("0.5"), D("0"), SEC))
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    e.handle(trade("59960", 2))
    e.take_reports()
    assert e.handle(trade("65956", 3)) == []  # +10 %: ignored, no stop move
    [ignored] = [r for r in e.take_reports() if isinstance(r, PrintIgnored)]
    assert ignored.price == D("65956") and "confirm" in ignored.reason
    assert e.position.highest == D("59960") and e.last_price == D("59960")
    assert e.handle(trade("59950", 4)) == []  # the market is where it was


def test_prints_confirmed_by_the_market_are_accepted():
    f = PrintFilter(D("0.05"), 3)
    assert f.check(D("100")) is None
    assert f.check(D("120")) is not None
    assert f.check(D("121")) is not None
    assert f.check(D("122")) is None  # three in a row agree: the market moved
    assert f.reference == D("122")
    assert f.check(D("120")) is None


def test_non_positive_prints_are_always_ignored():
    e = engine()  # no band: only impossible prices are refused
    assert e.handle(trade("0", 1)) == []
    assert e.handle(trade("-100", 2)) == []
    assert e.last_price is None
    reasons = [r.reason for r in e.take_reports() if isinstance(r, PrintIgnored)]
    assert len(reasons) == 2 and all("not positive" in r for r in reasons)


@pytest.mark.parametrize(
    ("sanity", "words"),
    [
        ({"max_order_size": D("0.1")}, "max_order_size"),
        ({"max_order_value": D("10000")}, "max_order_value"),
    ],
)
def test_oversized_entries_never_leave(sanity, words):
    # 0.5 at 59400 = 29,700 USD
    e = engine(**sanity)
    assert e.handle(trade("60000", 0)) == []
    [skipped] = [r for r in e.take_reports() if isinstance(r, EntrySkipped)]
    assert words in skipped.reason


def test_an_entry_far_from_the_last_trade_never_leaves():
    params = PairParams(
        BTC,
        TrailParams(D("0.02"), D("0.005")),
        60 * SEC,
        size=D("0.01"),
        sanity=SanityParams(order_price_band_pct=D("0.005")),
    )
    e = DecisionEngine(params, FixedOffsetEntry(D("0.01")), "r")  # 1 % under: too far
    assert e.handle(trade("60000", 0)) == []
    [skipped] = [r for r in e.take_reports() if isinstance(r, EntrySkipped)]
    assert "order_price_band_pct" in skipped.reason
    ok = DecisionEngine(params, FixedOffsetEntry(D("0.001")), "r")
    [buy] = ok.handle(trade("60000", 0))
    assert isinstance(buy, PlaceLimitBuy)


def test_the_filter_state_survives_a_restart():
    e = engine(print_band_pct=D("0.05"))
    e.handle(trade("100", 1))
    e.handle(trade("130", 2))
    again = DecisionEngine.restore(e.params, FixedOffsetEntry(D("0.01")), e.snapshot())
    assert again.prints.reference == D("100") and again.prints.suspect_count == 1
    assert again.prints.suspect_lo == D("130") and again.prints.suspect_first_ts == 2 * SEC


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="print_band_pct"):
        SanityParams(print_band_pct=D("1.5"))
    with pytest.raises(ValueError, match="confirm_trades"):
        SanityParams(confirm_trades=0)
    with pytest.raises(ValueError, match="max_order_value"):
        SanityParams(max_order_value=D("-1"))


# -- evidence, not a count: traded value and time span -------------------------------------

MS = 1_000_000


def evidence_filter() -> PrintFilter:
    f = PrintFilter(D("0.05"), 3, min_value=D("1000"), after_ns=2 * SEC)
    assert f.check(D("60000"), D("0.1"), 0) is None
    return f


def test_three_dust_prints_within_25ms_confirm_nothing():
    f = evidence_filter()
    for i in range(3):
        why = f.check(D("66000"), D("0.00000001"), SEC + i * 12 * MS)
        assert why is not None and "worth 1000 in all over 2 s" in why
    assert f.reference == D("60000")
    # and a hundred more dust prints over minutes do not either: their value is nothing
    for i in range(100):
        assert f.check(D("66000"), D("0.00000001"), 2 * SEC + i * SEC) is not None
    assert f.reference == D("60000")


def test_a_real_move_is_confirmed_by_value_over_time():
    f = evidence_filter()
    assert f.check(D("66000"), D("0.01"), 1 * SEC) is not None  # 660
    assert f.check(D("66100"), D("0.01"), 2 * SEC) is not None  # 1321, 1 s
    assert f.check(D("66050"), D("0.01"), 3 * SEC) is None  # 1981.5 over 2 s: moved
    assert f.reference == D("66050")


def test_value_in_an_instant_is_not_enough_nor_time_without_value():
    f = evidence_filter()
    for i in range(5):  # 5 BTC at once: a lot of value, no time
        assert f.check(D("66000"), D("1"), SEC + i * MS) is not None
    g = evidence_filter()
    for i in range(5):  # over 4 s, but worth 3.3 in all
        assert g.check(D("66000"), D("0.00001"), SEC + i * SEC) is not None
    assert (f.reference, g.reference) == (D("60000"), D("60000"))


def test_suspects_that_disagree_start_the_evidence_again():
    f = evidence_filter()
    assert f.check(D("66000"), D("1"), 1 * SEC) is not None
    assert f.check(D("75000"), D("1"), 2 * SEC) is not None  # not within 5 % of 66000
    assert f.check(D("75000"), D("1"), 3 * SEC) is not None  # only 1 s of 75000
    assert f.suspect_count == 2 and f.suspect_first_ts == 2 * SEC


def test_the_engine_passes_each_print_s_size_and_time():
    e = engine(
        print_band_pct=D("0.05"), confirm_trades=3, confirm_value=D("1000"),
        confirm_after_ns=2 * SEC,
    )  # fmt: skip
    e.handle(MarketTrade("BTC-USD", D("60000"), D("0.1"), 0))
    for i in range(3):
        e.handle(MarketTrade("BTC-USD", D("66000"), D("0.00000001"), SEC + i * 12 * MS))
    assert e.last_price == D("60000")
    for i in range(3):
        e.handle(MarketTrade("BTC-USD", D("66000"), D("0.01"), 2 * SEC + i * SEC))
    assert e.last_price == D("66000")
