from decimal import Decimal as D

from tradekit.core import (
    CancelOrder,
    CancelReason,
    DecisionEngine,
    EntrySkipped,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderFilled,
    PairParams,
    PortfolioRisk,
    PositionClosed,
    ProductSpec,
    RiskLimits,
    TradingState,
    TradingStateChanged,
    TrailParams,
)

SEC = 10**9


def engine(pid: str, size: str = "1") -> DecisionEngine:
    spec = ProductSpec(pid, D("0.00000001"), D("0.01"), D("0.00000001"))
    params = PairParams(spec, TrailParams(D("0.02"), D("0.005")), 60 * SEC, size=D(size))
    return DecisionEngine(params, FixedOffsetEntry(D("0")), f"t-{pid}")


def trade(pid: str, price: str, t: int = 1) -> MarketTrade:
    return MarketTrade(pid, D(price), D("1"), t * SEC)


def test_max_open_positions_refuses_with_a_reason_reported_once():
    risk = PortfolioRisk(RiskLimits(max_open_positions=1))
    a, b = engine("AAA-USD"), engine("BBB-USD")
    risk.add(a)
    risk.add(b)
    assert a.handle(trade("AAA-USD", "10"))  # a takes the only slot
    assert b.handle(trade("BBB-USD", "20")) == []
    [skip] = b.take_reports()
    assert isinstance(skip, EntrySkipped) and "max open positions: 1 of 1" in skip.reason
    assert b.handle(trade("BBB-USD", "20", 2)) == []
    assert b.take_reports() == []  # the same reason is not repeated every tick


def test_exposure_limits_count_positions_and_working_entries():
    risk = PortfolioRisk(
        RiskLimits(max_quote_exposure=D("150"), max_quote_exposure_per_pair=D("120"))
    )
    a, b = engine("AAA-USD"), engine("BBB-USD")
    risk.add(a)
    risk.add(b)
    [buy] = a.handle(trade("AAA-USD", "100"))  # 100 of exposure
    a.handle(OrderAccepted(buy.client_order_id, "x", SEC))
    a.handle(OrderFilled(buy.client_order_id, "t", D("100"), D("1"), D("0"), SEC))
    assert risk.exposure(a) == D("100")
    assert b.handle(trade("BBB-USD", "60")) == []  # 100 + 60 > 150
    assert "max total exposure: 160" in b.take_reports()[0].reason
    assert b.handle(trade("BBB-USD", "40", 2))  # 140 fits
    c = engine("CCC-USD", size="2")
    risk.add(c)
    assert c.handle(trade("CCC-USD", "70")) == []  # 140 > 120 per pair
    assert "per pair" in c.take_reports()[0].reason


def test_daily_loss_limit_stops_entries_for_the_rest_of_the_day():
    risk = PortfolioRisk(RiskLimits(daily_loss_limit=D("50")))
    a = engine("AAA-USD")
    risk.add(a)
    day = 20_000 * 86_400
    risk.observe(PositionClosed("AAA-USD", D("1"), D("100"), D("40"), D("0"), D("-60"), day * SEC))
    assert a.handle(trade("AAA-USD", "10", day + 5)) == []
    assert "daily loss limit" in a.take_reports()[0].reason
    assert a.handle(trade("AAA-USD", "10", day + 86_400))  # a new day


def test_pause_resume_and_kill_switch():
    a = engine("AAA-USD")
    a.handle(TradingStateChanged(TradingState.PAUSED, SEC))
    assert a.handle(trade("AAA-USD", "10")) == []
    a.handle(TradingStateChanged(TradingState.ACTIVE, 2 * SEC))
    [buy] = a.handle(trade("AAA-USD", "10", 3))
    a.handle(OrderAccepted(buy.client_order_id, "x", 3 * SEC))
    [cancel] = a.handle(TradingStateChanged(TradingState.HALTED, 4 * SEC, "kill"))
    assert isinstance(cancel, CancelOrder) and cancel.reason is CancelReason.KILL
    again = DecisionEngine.restore(a.params, FixedOffsetEntry(D("0")), a.snapshot())
    assert again.trading_state is TradingState.HALTED


def test_a_pause_after_the_kill_switch_keeps_the_halt_and_its_flatten():
    a = engine("AAA-USD")
    a.handle(TradingStateChanged(TradingState.HALTED, SEC, "kill", D("0.01")))
    assert a.handle(TradingStateChanged(TradingState.PAUSED, 2 * SEC)) == []
    assert a.trading_state is TradingState.HALTED and a.flatten_offset == D("0.01")
    assert a.handle(trade("AAA-USD", "10", 3)) == []  # still no entry
    a.handle(TradingStateChanged(TradingState.ACTIVE, 4 * SEC, "resumed"))  # explicit
    assert a.trading_state is TradingState.ACTIVE and a.flatten_offset is None
    assert a.handle(trade("AAA-USD", "10", 5))  # entries again


def test_kill_switch_that_flattens_sells_with_a_limit_after_the_stop_makes_way():
    from tradekit.core import OrderStatus, OrderStatusReport, PlaceLimitSell, PositionClosed

    a = engine("AAA-USD")
    [buy] = a.handle(trade("AAA-USD", "100"))
    a.handle(OrderAccepted(buy.client_order_id, "x1", SEC))
    [stop] = a.handle(OrderFilled(buy.client_order_id, "t1", D("100"), D("1"), D("0"), SEC))
    a.handle(OrderAccepted(stop.client_order_id, "x2", SEC))
    assert a.handle(trade("AAA-USD", "99", 2)) == []  # last price 99 (the stop stays)
    a.take_reports()
    ev = TradingStateChanged(TradingState.HALTED, 3 * SEC, "flatten", D("0.01"))
    cmds = a.handle(ev)
    live = [c for c in cmds if isinstance(c, CancelOrder)]
    assert live and live[-1].reason is CancelReason.FLATTEN  # the stop makes way first
    assert not [c for c in cmds if isinstance(c, PlaceLimitSell)]
    stop_id = live[-1].client_order_id
    [sell] = a.handle(OrderStatusReport(stop_id, OrderStatus.CANCELLED, 4 * SEC))
    assert isinstance(sell, PlaceLimitSell)
    assert (sell.size, sell.limit_price) == (D("1.00000000"), D("98.01"))  # 99 * 0.99
    assert a.live_stops() == []
    a.handle(OrderAccepted(sell.client_order_id, "x9", 4 * SEC))
    assert a.handle(OrderFilled(sell.client_order_id, "t9", D("98.01"), D("1"), D("0"), 5)) == []
    [closed] = [r for r in a.take_reports() if isinstance(r, PositionClosed)]
    assert closed.realized_pnl == D("-1.99")
    assert a.handle(trade("AAA-USD", "90", 6)) == []  # halted: no new entry
