"""Protection, case by case, with hand-computed figures (each failed before the explicit
protection state machine): a stop that cannot rest, a gap through the limit, minimum
sizes, fills reported twice, moves reported when they happen, fees of a partial exit."""

from decimal import Decimal as D

from tradekit.core import (
    CancelOrder,
    CancelReason,
    DecisionEngine,
    DustLeft,
    ExitPlaced,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    PairParams,
    Phase,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
    PositionClosed,
    PositionState,
    ProductSpec,
    ProtectionBlocked,
    ProtectionParams,
    ProtectionState,
    StopBreached,
    StopGappedThrough,
    StopMoved,
    Timer,
    TrailParams,
)

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))
SEC = 1_000_000_000


def engine(product=BTC, size="0.5", wait_s=60, **protection):
    params = PairParams(
        product,
        TrailParams(D("0.02"), D("0.005"), D("0")),
        wait_s * SEC,
        size=D(size),
        protection=ProtectionParams(**protection),
    )
    return DecisionEngine(params, FixedOffsetEntry(D("0.01")), "r")


def trade(price, t, pid="BTC-USD"):
    return MarketTrade(pid, D(price), D("1"), t * SEC)


def kinds(reports, cls):
    return [r for r in reports if isinstance(r, cls)]


def entered(e, fill_price="99.00", size="0.5", t=1):
    """Flat -> an accepted entry at 99.00 (trade 100.00, offset 1%) filled at t."""
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    cmds = e.handle(OrderFilled(buy.client_order_id, "T1", D(fill_price), D(size), D("0"), t * SEC))
    return buy, cmds


# -- 1. a stop that cannot rest means the stop was hit --------------------------------


def test_replacement_refused_as_above_the_market_exits_and_follows_the_market_down():
    """Entry fills at 99, the stop moves after a rise to 110, the replacement is refused
    (the market fell under 107.80 first), then 100 -> 95 -> 90 -> 80 -> 60: before, the
    engine sent nothing at all with 0.5 BTC open."""
    e = engine()
    _, [stop] = entered(e)
    assert (stop.stop_price, stop.limit_price) == (D("97.02"), D("96.53"))
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    [cancel] = e.handle(trade("110.00", 2))  # 110 x 0.98 = 107.80
    assert cancel.then.stop_price == D("107.80")
    [place] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 2 * SEC))
    assert place.stop_price == D("107.80")
    e.take_reports()
    # the exchange saw a trade under 107.80 that has not reached us: refused
    [exit_] = e.handle(
        OrderRejected(place.client_order_id, "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE", 2 * SEC)
    )
    # priced from the refused trigger (the market is under it): 107.80 x 0.995 = 107.261
    assert exit_ == PlaceLimitSell("r-4", "BTC-USD", D("0.50000000"), D("107.26"), 2 * SEC)
    reports = e.take_reports()
    [breach] = kinds(reports, StopBreached)
    assert (breach.trigger, breach.action) == (D("107.80"), "exit")
    [placed] = kinds(reports, ExitPlaced)
    assert placed.reason == "breach"
    assert e.protection_state is ProtectionState.EXITING
    e.handle(OrderAccepted(exit_.client_order_id, "E1", 2 * SEC))
    assert e.handle(trade("100.00", 3)) == []  # placed 1 s ago: not yet re-priced
    assert e.handle(trade("95.00", 4)) == []
    assert e.handle(trade("90.00", 6)) == []
    # 5 s after placement, the market (80) under its limit: cancel, then a new exit
    [reprice] = e.handle(trade("80.00", 7))
    assert reprice == CancelOrder("r-4", "E1", CancelReason.EXIT_REPRICE, 7 * SEC)
    [again] = e.handle(OrderStatusReport("r-4", OrderStatus.CANCELLED, 7 * SEC))
    assert again == PlaceLimitSell("r-5", "BTC-USD", D("0.50000000"), D("79.60"), 7 * SEC)
    e.handle(OrderAccepted("r-5", "E2", 7 * SEC))
    e.handle(trade("60.00", 8))
    e.handle(OrderFilled("r-5", "T9", D("79.60"), D("0.5"), D("0"), 8 * SEC))
    [closed] = kinds(e.take_reports(), PositionClosed)
    assert closed.realized_pnl == (D("79.60") - D("99.00")) * D("0.5")  # -9.70
    assert e.phase is Phase.FLAT


def test_entry_filled_during_a_fast_drop_exits_at_once():
    """The entry's fill tick is already more than trail_pct under the fill price: the
    stop is known to be above the market before anything is sent."""
    e = engine()
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    e.handle(trade("99.50", 1))
    e.handle(trade("96.00", 2))  # the market is under 99 x 0.98 = 97.02 ...
    # ... and the entry's fill is reported after that trade
    [exit_] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 2))
    assert isinstance(exit_, PlaceLimitSell)
    assert exit_.limit_price == D("95.52")  # 96.00 x 0.995
    assert not e.live_stops()
    [breach] = kinds(e.take_reports(), StopBreached)
    assert (breach.trigger, breach.price) == (D("97.02"), D("96.00"))


def test_resting_stop_is_swapped_for_an_exit_when_its_move_would_be_above_the_market():
    e = engine()
    _, [stop] = entered(e)
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    e.handle(trade("105.00", 2))  # a move to 102.90 starts ...
    [place] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 2 * SEC))
    e.handle(OrderAccepted(place.client_order_id, "S2", 2 * SEC))
    e.handle(trade("110.00", 3))  # desired 107.80; this time the cancel is slow ...
    assert e.stop.status is OrderStatus.PENDING_CANCEL
    assert e.handle(trade("104.00", 4)) == []  # ... and the market falls under 107.80
    [exit_] = e.handle(OrderStatusReport(place.client_order_id, OrderStatus.CANCELLED, 4 * SEC))
    assert exit_ == PlaceLimitSell("r-5", "BTC-USD", D("0.50000000"), D("103.48"), 4 * SEC)


def test_on_breach_wait_keeps_the_old_behaviour_and_says_so():
    e = engine(on_breach="wait")
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    e.handle(trade("96.00", 1))
    assert e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1)) == []
    reports = e.take_reports()
    assert kinds(reports, StopBreached)[0].action == "wait"
    [blocked] = kinds(reports, ProtectionBlocked)
    assert "on_breach=wait" in blocked.reason
    assert e.handle(trade("90.00", 2)) == []
    [stop] = e.handle(trade("97.50", 3))
    assert isinstance(stop, PlaceStopLimitSell) and stop.stop_price == D("97.02")


# -- 2. gap through the limit ------------------------------------------------------------


def test_triggered_stop_gapped_through_is_replaced_by_an_exit():
    e = engine(gap_exit_after_trades=3)
    _, [stop] = entered(e)
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    # 96.00 triggers 97.02 and is under its limit 96.53: the stop rests unfilled
    e.handle(
        OrderStatusReport(
            stop.client_order_id, OrderStatus.OPEN, 2 * SEC, "S1", D("0"), triggered=True
        )
    )
    assert e.handle(trade("96.00", 2)) == []
    assert e.protection_state is ProtectionState.TRIGGERED
    assert e.handle(trade("95.00", 3)) == []
    [cancel] = e.handle(trade("94.00", 4))  # the third trade under 96.53
    assert cancel == CancelOrder(stop.client_order_id, "S1", CancelReason.GAP_THROUGH, 4 * SEC)
    [gap] = kinds(e.take_reports(), StopGappedThrough)
    assert (gap.limit, gap.price) == (D("96.53"), D("94.00"))
    [exit_] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 4 * SEC))
    assert exit_ == PlaceLimitSell("r-3", "BTC-USD", D("0.50000000"), D("93.53"), 4 * SEC)
    assert kinds(e.take_reports(), ExitPlaced)[0].reason == "gap_through"


def test_gap_through_also_ends_on_time_and_resets_when_the_market_comes_back():
    e = engine(gap_exit_after_trades=100, gap_exit_after_ns=10 * SEC)
    _, [stop] = entered(e)
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.OPEN, 2 * SEC, triggered=True))
    e.handle(trade("96.00", 2))
    assert e.handle(trade("96.60", 5)) == []  # back at or above 96.53: it may fill now
    e.handle(trade("96.00", 6))
    assert e.handle(trade("96.00", 15)) == []  # 9 s under the limit since 6
    [cancel] = e.handle(trade("95.90", 16))
    assert cancel.reason is CancelReason.GAP_THROUGH


# -- 3. minimum sizes --------------------------------------------------------------------

SOL = ProductSpec("SOL-USD", D("0.001"), D("0.01"), D("0.1"), quote_min_size=D("10"))


def test_size_problem_checks_the_quote_minimum_too():
    assert SOL.notional_problem(D("0.1"), D("99.99")) is not None
    assert SOL.notional_problem(D("0.1"), D("100.00")) is None
    assert SOL.size_problem(D("0.099")) is not None


def test_partial_entry_under_the_minimum_then_timeout_is_dust_and_frees_the_pair():
    e = engine(SOL, size="0.5", wait_s=10)
    [buy] = e.handle(trade("100.00", 0, "SOL-USD"))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    assert e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.05"), D("0"), 1)) == []
    assert e.protection_state is ProtectionState.NONE  # the entry works: more may come
    [cancel] = e.handle(trade("99.50", 10, "SOL-USD"))
    assert cancel.reason is CancelReason.ENTRY_TIMEOUT
    assert e.handle(OrderStatusReport(buy.client_order_id, OrderStatus.CANCELLED, 11 * SEC)) == []
    reports = e.take_reports()
    [dust] = kinds(reports, DustLeft)
    assert dust.size == D("0.050")
    assert "base_min_size" in dust.reason
    [closed] = kinds(reports, PositionClosed)
    assert closed.left == D("0.05")
    assert e.phase is Phase.FLAT  # free: the entry rule may fire again
    [again] = e.handle(trade("100.00", 12, "SOL-USD"))
    assert isinstance(again, PlaceLimitBuy)


def test_an_entry_whose_stop_would_be_under_the_quote_minimum_is_not_made():
    from tradekit.core import EntrySkipped

    # 0.102 at 99.00 is worth 10.10, but its stop (limit 96.53) only 9.85 < 10
    e = engine(SOL, size="0.102")
    assert e.handle(trade("100.00", 0, "SOL-USD")) == []
    [skipped] = kinds(e.take_reports(), EntrySkipped)
    assert "quote_min_size" in skipped.reason and "stop" in skipped.reason


def test_a_remainder_whose_stop_is_under_the_quote_minimum_is_sold_once_not_a_storm():
    """0.102 SOL: its stop (limit raised at most to the trigger 97.02, 9.90) is under the
    quote minimum of 10, but an exit at 98.50 (10.05) is not: one exit, never a storm of
    refused stops, never a position left unprotected in silence."""
    e = engine(SOL, size="0.5", wait_s=5)
    [buy] = e.handle(trade("100.00", 0, "SOL-USD"))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    sent = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.102"), D("0"), SEC))
    sent += e.handle(trade("99.00", 5, "SOL-USD"))  # the timeout's cancel
    assert [type(c) for c in sent] == [CancelOrder]
    sent = e.handle(OrderStatusReport(buy.client_order_id, OrderStatus.CANCELLED, 5 * SEC))
    assert sent == [PlaceLimitSell("r-2", "SOL-USD", D("0.102"), D("98.50"), 5 * SEC)]
    e.handle(OrderAccepted("r-2", "X2", 5 * SEC))
    for t in range(6, 16):
        sent += e.handle(trade("99.00", t, "SOL-USD"))
    assert len(sent) == 1
    [placed] = kinds(e.take_reports(), ExitPlaced)
    assert placed.reason == "unprotectable"


def test_a_remainder_that_can_be_neither_stopped_nor_sold_is_dust_not_a_storm():
    e = engine(SOL, size="0.5", wait_s=5)
    [buy] = e.handle(trade("100.00", 0, "SOL-USD"))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    # 0.1 filled: worth 9.85 at the exit's 98.50, under the quote minimum of 10
    sent = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.1"), D("0"), SEC))
    sent += e.handle(trade("99.00", 5, "SOL-USD"))
    sent = e.handle(OrderStatusReport(buy.client_order_id, OrderStatus.CANCELLED, 5 * SEC))
    for t in range(6, 16):
        sent += e.handle(trade("99.00", t, "SOL-USD"))
    assert not [c for c in sent if not isinstance(c, PlaceLimitBuy)]
    [dust] = kinds(e.take_reports(), DustLeft)
    assert dust.size == D("0.1") and "quote_min_size" in dust.reason


def test_a_stop_limit_is_raised_to_meet_the_quote_minimum_when_the_trigger_allows():
    # 0.1033 at 99: trigger 97.02, limit 96.53; 0.1033 x 96.53 = 9.97 < 10, so the limit
    # is raised to round_up(10 / 0.1033) = 96.81 (<= the trigger): a smaller buffer
    # beats no stop at all
    fine = ProductSpec("SOL-USD", D("0.0001"), D("0.01"), D("0.1"), quote_min_size=D("10"))
    e = engine(fine, size="0.1033")
    _, [stop] = entered(e, size="0.1033")
    assert (stop.stop_price, stop.limit_price) == (D("97.02"), D("96.81"))
    assert stop.size * stop.limit_price >= 10


def test_a_permanently_refused_stop_is_not_sent_again_unchanged():
    e = engine(retry_initial_ns=2 * SEC)
    _, [stop] = entered(e)
    assert e.handle(OrderRejected(stop.client_order_id, "INVALID_SIZE_PRECISION", SEC)) == []
    [blocked] = kinds(e.take_reports(), ProtectionBlocked)
    assert blocked.retry_at == 3 * SEC
    # same levels: never again, however long
    for t in range(2, 20):
        assert e.handle(trade("99.00", t)) == []
    assert e.protection_state is ProtectionState.BLOCKED
    # different levels (the price rose): one new attempt
    [retry] = e.handle(trade("101.00", 20))
    assert isinstance(retry, PlaceStopLimitSell) and retry.stop_price == D("98.98")


def test_a_transient_refusal_backs_off_exponentially():
    e = engine(retry_initial_ns=1 * SEC, retry_max_ns=4 * SEC)
    _, [stop] = entered(e)
    sends = []
    coid = stop.client_order_id
    t = SEC
    for _ in range(5):
        assert e.handle(OrderRejected(coid, "UNKNOWN_FAILURE_REASON", t)) == []
        # nothing is sent before the back-off ends, then one placement
        while True:
            t += SEC // 2
            cmds = e.handle(Timer(t))
            if cmds:
                [again] = cmds
                sends.append(t)
                coid = again.client_order_id
                break
    gaps = [b - a for a, b in zip([SEC, *sends], sends, strict=False)]
    assert gaps == [SEC, 2 * SEC, 4 * SEC, 4 * SEC, 4 * SEC]  # doubling, capped at 4 s


# -- 4. one fill, booked once ------------------------------------------------------------


def test_a_cumulative_report_then_the_trade_it_covered_books_it_once():
    e = engine()
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    e.handle(
        OrderStatusReport(
            buy.client_order_id, OrderStatus.OPEN, SEC, "B1", D("0.2"), D("19.8"), D("0.01")
        )
    )
    e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.2"), D("0.01"), 2 * SEC))
    assert e.position.filled_size == D("0.2")  # was 0.4 (or an OverfillError)
    assert e.position.fees == D("0.01")
    e.handle(OrderFilled(buy.client_order_id, "T2", D("99.00"), D("0.3"), D("0.02"), 3 * SEC))
    assert e.position.filled_size == D("0.5")
    assert e.orders[buy.client_order_id].status is OrderStatus.FILLED


# -- 5. moves reported when they happen --------------------------------------------------


def test_stop_moved_is_reported_on_acknowledgement_not_on_the_desire():
    e = engine()
    _, [stop] = entered(e)
    assert not kinds(e.take_reports(), StopMoved)  # sent, not resting yet
    e.handle(OrderAccepted(stop.client_order_id, "S1", 2 * SEC))
    [first] = kinds(e.take_reports(), StopMoved)
    assert (first.old_trigger, first.trigger, first.ts) == (None, D("97.02"), 2 * SEC)
    [cancel] = e.handle(trade("105.00", 3))
    # a refused replacement is not a move
    e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 3 * SEC))
    e.handle(OrderRejected(cancel.then.client_order_id, "UNKNOWN_FAILURE_REASON", 3 * SEC))
    assert not kinds(e.take_reports(), StopMoved)


# -- 7. the smaller ones -----------------------------------------------------------------


def test_a_partial_exit_carries_only_its_share_of_the_entry_fees():
    pos = PositionState(BTC, TrailParams(D("0.02"), D("0.005")))
    pos.add_buy(D("1"), D("100"), D("1.00"))  # entry fee 1.00
    pos.add_sell(D("0.25"), D("110"), D("0.10"))
    # 27.50 - 0.10 - (100 + 1.00) x 0.25 = 2.15 (was 27.50 - 25 - 1.10 = 1.40)
    assert pos.realized_pnl == D("2.15")
    pos.add_sell(D("0.75"), D("110"), D("0.30"))
    assert pos.realized_pnl == D("110") - D("100") - D("1.40")  # whole trade: all fees


def test_the_core_computes_money_in_the_one_money_context():
    from decimal import localcontext

    from tradekit.core.money import MONEY_CONTEXT

    e = engine(size="0.12345678")
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    price = D("99.123456789012345678901234")  # an exchange's average price, many digits
    e.handle(OrderFilled(buy.client_order_id, "T1", price, D("0.12345678"), D("0"), SEC))
    with localcontext(MONEY_CONTEXT):
        exact = D("0.12345678") * price
    assert len(exact.as_tuple().digits) > 28  # the default context would round it
    assert e.position.cost == exact


# -- the state machine itself ------------------------------------------------------------


def test_trades_observed_late_raise_the_high_and_the_next_decision_catches_up():
    e = engine()
    _, [stop] = entered(e)
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    for t, price in enumerate(("101.00", "104.00", "103.00"), start=2):
        e.observe(trade(price, t))  # behind the market: seen, not decided on
    assert e.position.highest == D("104.00") and e.stop.status is OrderStatus.OPEN
    [cancel] = e.handle(trade("103.50", 6))  # a current trade: one move, to 104 x 0.98
    assert cancel.then.stop_price == D("101.92")
