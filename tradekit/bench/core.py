"""`core`: the ratchet and the decision engine alone, on a seeded 1,000,000-tick path.

- ratchet_ticks_per_s: `PositionState.ratchet` over every price of the path.
- decision_events_per_s: a fresh `DecisionEngine` consuming the exact event stream (trades
  and the order events they caused) recorded from a paper-exchange run of the same path,
  so the engine makes the same decisions as live; commands are returned, not performed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from tradekit.bench.figures import Figure, median_rate
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import Event
from tradekit.core.position import PositionState
from tradekit.demo import DemoSetup
from tradekit.store.sqlite import Store


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    setup = DemoSetup(seed=1, ticks=ticks)
    if progress is not None:
        progress.write(f"core: generating a {ticks:,}-tick path (seed 1)\n")
    trades = setup.path().to_list()
    prices = [t.price for t in trades]
    params = setup.params()

    def ratchet_all() -> None:
        pos = PositionState(params.product, params.trail)
        pos.add_buy(Decimal("1"), prices[0], Decimal("0"))
        ratchet = pos.ratchet
        for p in prices:
            ratchet(p)

    ratchet_rate = median_rate(len(prices), ratchet_all, repeat, "ratchet", progress)

    # Record the events a real run feeds the engine (paper exchange, in-memory store).
    events: list[Event] = []
    with Store(":memory:") as store:
        engine = setup.engine(store, setup.exchange(), "bench", trades)
        inner = engine.decision.handle

        def recording(ev: Event) -> list:  # type: ignore[type-arg]
            events.append(ev)
            return inner(ev)

        engine.start()
        engine.decision.handle = recording  # type: ignore[method-assign,assignment]
        engine.run()

    def decide_all() -> None:
        decision = DecisionEngine(params, setup.rule(), "bench")
        handle = decision.handle
        take = decision.take_reports
        for ev in events:
            handle(ev)
            take()

    decision_rate = median_rate(len(events), decide_all, repeat, "decision", progress)
    return [
        Figure("ratchet_ticks_per_s", round(ratchet_rate), "ticks/s"),
        Figure("decision_events_per_s", round(decision_rate), "events/s"),
        Figure("decision_events", len(events), "events"),
    ]
