"""Protection judged by the exchange's truth (#18): a liveness property test against an
adversarial, Coinbase-like exchange (`tests/helpers/adversary.py`), and one named
scenario per item of the issue.

The properties, checked after every event the engine handles (see `adversary.py` for
the exact rules and the bounds, each a named constant with its reason):
(a) the held size is covered on the exchange (resting stop, working exit, working
    triggered stop) within a bounded number of events, or is dust; (b) the resting
    stop's trigger reaches the ratchet's within one `min_ratchet` step within a bounded
    number of events; (c) no request identical to a refused one inside its back-off, and
    no request storm; (d) the fills booked equal the exchange's; (e) `handle` never
    raises; (f) no entry after the kill switch, and a working one is cancelled.

Run:  .venv/bin/python -m pytest -q tests/core/test_liveness.py
One seed, traced:  cd tests && ../.venv/bin/python -c "import helpers.adversary as a;
    h = a.scenario(SEED).harness(); h.trace = []; h.run(); print(*h.trace, h.summary(), sep='\n')"

Found on b5232ee
----------------
Every named scenario below fails on b5232ee, for the reason its item of the issue gives
(item 6's FIFO order passes, as the issue says); the judge's own tests pass. Of seeds
0-1999, 641 scenarios fail (by property: a 236, b 198, c 161, e 110, storm 27, f 11; d
none); 281 of the 1014 that emulate today's driver (it looks a refused or lost request
up at once: `driver_asks`) fail too, so most findings are not only "the engine never
asks". Of the loop's seeds 0-399, 1 in 3 fail. The smallest seed of each kind
(`scenario(seed).text` says the whole scenario, the trace shows every event):

(a) held size uncovered / written off
  seed 1918: one transient cancel refusal of the stop's move -> the stop is neither moved
      nor resized: 1.2 of 2.9 held uncovered from step 5 on, stop frozen at 3.35 (item 1)
  seed 1344: the exit's re-price cancel refused once -> exit stays at 5.75 while the market
      trades 5.05 for 15 steps (item 2)
  seed 1516: no adversity: 0.05 grid, stop limit rounds to 0 -> DustLeft 146 at 0.10
      (sellable) and the position is closed with 146 left (item 5)
  seed 1522: a partly filled exit cancelled to re-price though the new exit for the rest
      is under the quote minimum (0.99 < 1) -> DustLeft, nothing sells 0.00313363 that
      the old exit would have (item 5; the gap-through variant is test_item5_b)
  seed 853: a stop placement's reply lost -> never looked up; 145.036 held uncovered from
      step 0 (the engine must query: today only the driver's settle() would)
  seed 1616: a gap-through cancel's reply lost (CancelUnknown) -> never looked up; the
      triggered stop rests 1079.97 over a market at 872.97
  seed 41: on_breach = wait, the stop's placement reply lost (never reached the
      exchange): 25.768 held with nothing resting, the market under the trigger, and no
      reason reported (the engine believes the stop is in flight)
(b) stop behind the ratchet
  seed 126: a stop placement's reply lost -> the stop rests at 106.59 while the ratchet
      wants 126.23 (SUBMIT_UNKNOWN forever: nothing is asked)
  seed 1918: as above, 3.35 while the ratchet wants 3.50 (item 1)
(c) back-off / storms
  seed 631: no adversity: the stop triggers on the print that completes a partly filled
      entry; answers first -> the refused (ORDER_IS_FULLY_FILLED) entry cancel is re-sent
      300 times in one step (item 6, also the storm check)
  seed 482: a stop accepted then EXPIRED -> the same stop re-placed in the same event
      (item 4)
  seed 266: a gap-through cancel re-sent at once after its refusal (item 4)
(d) booked fills: nothing found (every scenario books exactly the exchange's fills).
(e) handle raises
  seed 1032: a stop EXPIRED by the exchange during its edit ->
      InvalidProtectionTransition editing -> placing (item 3; also CANCELLED, FAILED)
  seed 191: a placement's reply lost after its fill came (user channel first) ->
      InvalidOrderTransition FILLED on submit_lost (seed 1896: OPEN on submit_lost)
  seed 1514: FAILED reported before the late OrderAccepted -> InvalidOrderTransition FAILED
      on accepted
  seed 1661: an unanswered edit grew the stop; its fill -> OverfillError
  seed 1573: the entry's placement reply lost, then a partial fill: the entry timeout
      cancels it -> AssertionError (no order_id; a lookup would have given one)
(f) the kill switch
  seed 608: the entry's timeout cancel refused once -> never sent again; the kill
      switch's cancel is unanswered -> never looked up; the entry buys 50 at step 86, 37
      steps after the kill switch
  seed 849: the entry's placement reply lost (the order rests) -> never looked up, so
      neither its timeout nor the kill switch can cancel it (no order id); it fills at
      step 91, 67 steps after the kill switch
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from functools import cache

import pytest
from helpers.adversary import (
    SEC,
    Adversary,
    ExOrder,
    Harness,
    run_seed,
    scenario,
)
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from tradekit.core import (
    BreachPolicy,
    CancelOrder,
    Command,
    DecisionEngine,
    EditStopOrder,
    EnterOnce,
    OrderFilled,
    OrderStatus,
    PairParams,
    PlaceLimitSell,
    PlaceStopLimitSell,
    ProductSpec,
    ProtectionParams,
    TrailParams,
)

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))


def pair(
    product: ProductSpec = BTC,
    size: str = "1",
    trail: str = "0.02",
    buffer: str = "0.005",
    **protection,
) -> PairParams:
    pp = dict(
        exit_reprice_ns=3 * SEC,
        gap_exit_after_ns=4 * SEC,
        gap_exit_after_trades=2,
        retry_initial_ns=1 * SEC,
        retry_max_ns=8 * SEC,
    )
    pp.update(protection)
    return PairParams(
        product,
        TrailParams(D(trail), D(buffer), D("0")),
        60 * SEC,
        size=D(size),
        protection=ProtectionParams(**pp),
    )


def once(offset: str = "0.01"):
    return lambda: EnterOnce(offset_pct=D(offset))


def prices(*xs) -> list:
    return [
        None if x is None else (tuple(D(v) for v in x) if isinstance(x, tuple) else D(x))
        for x in xs
    ]


def ramp(a: str, b: str, n: int) -> list[D]:
    lo, hi = D(a), D(b)
    return [(lo + (hi - lo) * i / (n - 1)).quantize(D("0.01")) for i in range(n)]


def no_violations(h: Harness, *props: str) -> None:
    bad = [v for v in h.violations if not props or v.prop in props]
    assert not bad, "\n".join(str(v) for v in bad[:6])


class Refuse(Adversary):
    """Refuses the first `n` cancels of the orders `which` picks (a transient reason)."""

    def __init__(self, which, n: int = 1, **flags) -> None:
        super().__init__()
        self.which = which
        self.n = n
        for k, v in flags.items():
            setattr(self, k, v)

    def refuse_cancel(self, o: ExOrder) -> bool:
        if self.n > 0 and self.which(o):
            self.n -= 1
            self.act(f"cancel of {o.coid} refused")
            return True
        return False


# -- item 1: one refused cancel freezes the ratchet ------------------------------------


def test_item1_a_refused_stop_move_is_settled_by_the_exchange_and_the_ratchet_goes_on():
    """Entry at 99 (stop 97.02), the price rises 100 -> 199. The first move's cancel is
    refused once for a transient reason while the stop rests untriggered (today's driver
    even looks the order up: OPEN, untriggered). The exchange's stop must follow the
    ratchet to 199 x 0.98 = 195.02."""
    adv = Refuse(lambda o: o.kind == "stop", driver_asks=True)
    h = Harness(
        pair(), once(), prices("100", "99", *ramp("100", "199", 40), *[None] * 12), adv
    ).run()
    no_violations(h, "b", "c", "e")
    [stop] = h.open_stops()
    assert stop.stop == D("195.02")


def test_item1_b_the_kill_switch_flattens_after_a_refused_stop_cancel():
    """The same refusal, then the kill switch's flatten: the position must be sold."""
    adv = Refuse(lambda o: o.kind == "stop", driver_asks=True)
    h = Harness(
        pair(),
        once(),
        prices("100", "99", "101", "102", "103", *["103"] * 25),
        adv,
        kill_at=6,
        flatten_pct=D("0.01"),
    ).run()
    no_violations(h, "a", "c", "e")
    assert h.ex.held == 0, f"still held: {h.ex.held}; open sells: {h._sells()}"


# -- item 2: one refused cancel of an exit's re-price -----------------------------------


def test_item2_an_exit_follows_the_market_down_after_a_refused_reprice_cancel():
    """Entry at 99; the market is at 90 when the stop reaches the exchange (a print the
    engine's ticker did not show), so the stop is refused as above the last trade and the
    position exits with a limit priced from the refused trigger, above the market. The
    first re-price's cancel is refused once; the market falls to 19.10. The exit must
    follow it and sell."""
    adv = Refuse(lambda o: o.kind == "exit", driver_asks=True)
    down = ramp("90", "19.10", 30)
    h = Harness(pair(), once(), prices("100", ("99", "90"), *down, *["19.10"] * 15), adv).run()
    no_violations(h, "a", "c", "e")
    assert h.ex.held == 0, f"still held: {h.ex.held}; open sells: {h._sells()}"


# -- item 3: an exchange outcome can crash the engine ----------------------------------


class EndDuringEdit(Adversary):
    """Ends the stop (EXPIRED, CANCELLED or FAILED) while its first edit is in flight;
    the edit's answer comes a step late, after the exchange's news."""

    def __init__(self, status: OrderStatus) -> None:
        super().__init__()
        self.status = status
        self.done = False

    def end_during_edit(self, o):
        if self.done:
            return None
        self.done = True
        self.act(f"{o.coid} {self.status.value} during its edit")
        return self.status

    def reply_delay(self, cmd: Command) -> int:
        return 1 if isinstance(cmd, EditStopOrder) else 0


@pytest.mark.parametrize("status", [OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.FAILED])
def test_item3_a_stop_ended_by_the_exchange_during_an_edit_is_replaced(status):
    h = Harness(
        pair(),
        once(),
        prices("100", "99", *ramp("100", "120", 10), *["120"] * 12),
        EndDuringEdit(status),
        can_edit=True,
    ).run()
    no_violations(h)
    [stop] = h.open_stops()
    assert stop.stop == D("117.60")


# -- item 4: request storms ------------------------------------------------------------


class FailStops(Adversary):
    """Accepts the first `n` stops and reports each FAILED at once."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def end_later(self, o):
        if o.kind == "stop" and self.n > 0:
            self.n -= 1
            self.act(f"{o.coid} FAILED")
            return 0, OrderStatus.FAILED
        return None


def test_item4_a_stop_accepted_then_failed_is_replaced_on_a_back_off():
    h = Harness(pair(), once(), prices("100", "99", *["100"] * 50), FailStops(6)).run()
    no_violations(h, "c", "storm", "e")
    assert h.open_stops(), "no stop in the end"


def test_item4_b_on_breach_wait_does_not_resend_a_refused_stop_on_every_trade():
    """on_breach = wait. The market prints 96 after every print the engine sees (98):
    the exchange refuses the stop 97.02 as above its last trade each time."""
    h = Harness(
        pair(on_breach=BreachPolicy.WAIT),
        once(),
        prices("100", ("99", "96"), *[("98", "96")] * 20),
    ).run()
    no_violations(h, "c", "storm", "e")


def test_item4_c_a_refused_gap_through_cancel_is_not_resent_every_few_trades():
    """The market gaps from 99 to 90: the stop 97.02 triggers and rests unfilled under
    its limit 96.53; the exchange refuses to cancel the triggered stop (a transient
    reason) ten times."""
    adv = Refuse(lambda o: o.kind == "stop" and o.triggered, n=10)
    h = Harness(pair(), once(), prices("100", "99", *["90"] * 25), adv).run()
    no_violations(h, "c", "storm", "e")


# -- item 5: exits that can always be sent ---------------------------------------------

# A 0.05 grid and no quote minimum: at 0.10 with a 50 % trail the stop is 0.05 and its
# limit 0.0497... rounds to 0.00.
NICKEL = ProductSpec("NICK-USD", D("1"), D("0.05"), D("1"))
# A cent grid and a 10-quote minimum.
CENT = ProductSpec("CENT-USD", D("0.001"), D("0.01"), D("0.1"), quote_min_size=D("10"))


def test_item5_a_a_stop_limit_that_rounds_to_zero_does_not_abandon_the_position():
    h = Harness(
        pair(NICKEL, size="100", trail="0.5"),
        once("0"),
        prices("0.10", "0.10", *["0.10"] * 12, *["0.05"] * 6),
    ).run()
    no_violations(h, "a")


def test_item5_b_a_triggered_stop_is_not_cancelled_for_an_exit_that_cannot_be_sent():
    """0.2 bought at 99 (19.80 of value), stop 97.02 / 96.53; the market gaps to 40, the
    stop triggers and rests unfilled. An exit at 40 would be 8 of value, under the
    10 minimum: the stop must stay (it sells when the market comes back to 97)."""
    h = Harness(
        pair(CENT, size="0.2"), once(), prices("100", "99", *["40"] * 12, *["97"] * 3)
    ).run()
    no_violations(h, "a")
    assert h.ex.held == 0, f"still held: {h.ex.held}; open sells: {h._sells()}"


# -- item 6: the same outcome whatever the driver's queue order -------------------------


class HalfFirstBuyFill(Adversary):
    """The entry's first fill is half of it; answers may come before queued news."""

    def __init__(self, replies_first: bool) -> None:
        super().__init__()
        self.replies_first = replies_first
        self.halved = False

    def partial(self, o: ExOrder) -> bool:
        if o.kind == "buy" and not self.halved:
            self.halved = True
            return True
        return False


def _item6(replies_first: bool) -> Harness:
    """Entry of 1 at 99: half fills at 99 (a stop for 0.5 at 97.02); the print at 97
    completes the entry and triggers the stop in the same step."""
    return Harness(
        pair(), once(), prices("100", "99", "97", *["97"] * 8), HalfFirstBuyFill(replies_first)
    ).run()


@pytest.mark.parametrize("replies_first", [False, True])
def test_item6_a_stop_triggering_on_the_print_that_completes_the_entry(replies_first):
    h = _item6(replies_first)
    no_violations(h, "c", "storm", "e")


def test_item6_the_outcome_does_not_depend_on_the_queue_order():
    fifo, lifo = _item6(False), _item6(True)

    def outcome(h: Harness):
        # what was bought and sold, and every sell's kind, size and trigger; an exit's
        # limit is priced from the market as known when it is sent, which the order of
        # the news decides (the trade at 97 first: 96.51; the refusal of the stop first:
        # from the refused trigger 97.02, 96.53): both fill at the market, 97
        sells = sorted(
            (type(c).__name__, c.size, getattr(c, "stop_price", None))
            for c in h.sent(PlaceStopLimitSell) + h.sent(PlaceLimitSell)
        )
        fills = sorted((o.kind, o.filled) for o in h.ex.orders.values() if o.filled)
        return h.ex.bought, h.ex.sold, sells, fills

    assert outcome(fifo) == outcome(lifo)


# -- the judge itself: silent on an honest run, each property able to fire ---------------


def test_the_judge_is_silent_on_an_honest_exchange_and_a_plain_market():
    """Up 100 -> 130, then down through the stop: nothing adverse, nothing to report,
    the stop followed the ratchet on the exchange and sold everything."""
    h = Harness(
        pair(), once(), prices("100", "99", *ramp("100", "130", 16), *ramp("129", "110", 10))
    ).run()
    no_violations(h)
    assert h.ex.held == 0 and h.ex.sold == 1
    [stop_fill] = [o for o in h.ex.orders.values() if o.kind == "stop" and o.filled]
    assert stop_fill.stop == D("127.40")  # 130 x 0.98


class Without(DecisionEngine):
    """An engine whose commands of one kind are dropped (to see the judge fire)."""

    drop: Callable[[Command], bool] = staticmethod(lambda c: False)

    def handle(self, event):
        return [c for c in super().handle(event) if not self.drop(c)]


def _judged(drop) -> Harness:
    cls = type("Broken", (Without,), {"drop": staticmethod(drop)})
    return Harness(
        pair(),
        once(),
        prices("100", "99", *ramp("100", "130", 16), *["130"] * 12),
        engine_cls=cls,
    ).run()


def test_the_judge_sees_a_position_without_a_stop():
    h = _judged(lambda c: isinstance(c, PlaceStopLimitSell))
    assert [v.prop for v in h.violations] == ["a"], h.violations


def test_the_judge_sees_a_stop_that_does_not_follow_the_ratchet():
    h = _judged(lambda c: isinstance(c, CancelOrder))
    assert {v.prop for v in h.violations} == {"b"}, h.violations


def test_the_judge_sees_fills_the_engine_did_not_book():
    class Deaf(DecisionEngine):
        def handle(self, event):
            if isinstance(event, OrderFilled) and event.client_order_id == "lv-1":
                return []
            return super().handle(event)

    h = Harness(pair(), once(), prices("100", "99", "99"), engine_cls=Deaf).run()
    assert {v.prop for v in h.violations} == {"d"}, h.violations


# -- the property test -------------------------------------------------------------------

# The seeds of "Found on b5232ee" (explicit examples: each must pass once #18 is fixed).
FOUND = [1918, 1344, 1516, 1522, 853, 1616, 41, 126, 631, 482, 266, 1032, 191, 1896, 1514]
FOUND += [1661, 1573, 608, 849]
SEEDS = range(400)  # the seeded loop: every property over these scenarios


@cache
def _violations() -> dict[int, list]:
    return {s: run_seed(s).violations for s in SEEDS}


@pytest.mark.parametrize("prop", ["a", "b", "c", "d", "e", "f", "storm"])
def test_property_over_the_seeded_scenarios(prop):
    bad = [
        (s, next(v for v in vs if v.prop == prop))
        for s, vs in _violations().items()
        if any(v.prop == prop for v in vs)
    ]
    assert not bad, f"{len(bad)} scenario(s) of {len(SEEDS)}, the first:\n" + "\n".join(
        f"seed {s}: {v}" for s, v in bad[:5]
    )


def _with_examples(f):
    for s in FOUND:
        f = example(seed=s)(f)
    return f


@settings(
    derandomize=True,
    database=None,
    max_examples=300,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
)
@_with_examples
@given(seed=st.integers(10_000, 2**32 - 1))
def test_liveness_against_an_adversarial_exchange(seed):
    h = run_seed(seed)
    assert not h.violations, f"{scenario(seed).text}\n{h.summary()}"
