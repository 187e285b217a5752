"""What a run did, step by step, as the exchange saw it: the thing a check compares.

`ScenarioExchange` wraps a `PaperExchange` and writes a `Journal` of every request and
its answer, and every fill, tagged with the tick (the index of the market trade) it
happened at. It also plays the scenario's connection events: a print that lands while a
stop is in flight, and a 429 burst (every private request raises `ExchangeBusy`). Edits
are not offered, so a stop moves by cancel-then-place, the sequence the exercises are
about. A journal holds no ids: two runs agree when they asked the same things of the
market at the same ticks, whatever their orders are called.

`reference_run(scenario)` is the reference: the live engine's `DecisionEngine` and pair
driver on the scenario (the backtest path), through a `ScenarioExchange`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.core.events import MarketTrade
from tradekit.exchange.types import CancelResult, ExchangeBusy, Fill, PlaceResult
from tradekit.teaching.scenario import Scenario, load

__all__ = ["Journal", "ScenarioExchange", "Step", "reference_run"]


@dataclass(frozen=True, slots=True)
class Step:
    """One thing the exchange saw: a request and its answer, a fill, a market event.

    action: place_entry | place_stop | refused | cancel | cancel_confirmed |
    cancel_refused | fill | booked | rate_limited | print. `order` is a role ("entry",
    "stop 3": the third stop placed), never an exchange id.
    """

    tick: int
    action: str
    order: str = ""
    price: Decimal | None = None
    limit: Decimal | None = None
    size: Decimal | None = None
    note: str = ""

    def key(self) -> tuple[Any, ...]:
        """What two runs must agree on (the note is an explanation, not a fact)."""
        return (self.tick, self.action, self.order, self.price, self.limit, self.size)

    def words(self) -> str:
        """The step as a sentence fragment, prices as the exchange has them."""
        bits = [self.action.replace("_", " ")]
        if self.order:
            bits.append(self.order)
        if self.price is not None:
            bits.append(f"at {self.price}")
        if self.limit is not None:
            bits.append(f"limit {self.limit}")
        if self.size is not None:
            bits.append(f"size {self.size}")
        if self.note:
            bits.append(f"({self.note})")
        return " ".join(bits)


class Journal:
    """A run's steps, in order; saved as JSON lines (`save`, `Journal.read`)."""

    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self.steps: list[Step] = list(steps)

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Journal):
            return NotImplemented
        return [s.key() for s in self] == [s.key() for s in other]

    def __repr__(self) -> str:
        return f"Journal({len(self.steps)} steps)"

    def of(self, *actions: str) -> list[Step]:
        return [s for s in self.steps if s.action in actions]

    def save(self, path: str | Path) -> None:
        with Path(path).open("w", encoding="utf-8") as f:
            for s in self.steps:
                row = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(s).items()}
                f.write(json.dumps(row) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> Journal:
        steps = []
        for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            try:
                row = json.loads(line)
                for k in ("price", "limit", "size"):
                    if row.get(k) is not None:
                        row[k] = Decimal(row[k])
                steps.append(Step(**row))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a journal step: {exc}") from None
        return cls(steps)


class ScenarioExchange:
    """A paper exchange that journals what it is asked and plays the scenario's faults.

    Set `tick` before each market trade (`advance` does it when given the index).
    """

    can_edit_stops = False  # stops move by cancel-then-place in every exercise

    def __init__(self, scenario: Scenario, journal: Journal | None = None) -> None:
        self.scenario = scenario
        self.inner = scenario.spec().exchange()
        self.journal = Journal() if journal is None else journal
        self.tick = -1
        self.last_ts = 0
        self._roles: dict[str, str] = {}  # client_order_id -> role
        self._by_order_id: dict[str, str] = {}  # order_id -> client_order_id
        self._stops = 0
        self._flight = scenario.event("print_in_flight")
        self._burst = scenario.event("rate_limit_burst")

    def can_edit_stops_for(self, product_id: str) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # -- the market

    def advance(self, trade: MarketTrade) -> list[Fill]:
        fills: list[Fill] = self.inner.advance(trade)
        self.last_ts = trade.ts
        self._fills(fills)
        return fills

    def _fills(self, fills: list[Fill]) -> None:
        for f in fills:
            role = self._roles.get(f.client_order_id, "?")
            self.journal.add(Step(self.tick, "fill", role, f.price, None, f.size))

    def _busy(self, what: str) -> None:
        if self._burst is not None and self._burst.covers(self.tick):
            self.journal.add(Step(self.tick, "rate_limited", note=what))
            raise ExchangeBusy(f"429 RATE_LIMIT_EXCEEDED ({what}, scenario burst)")

    # -- requests

    def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        self._busy("place entry")
        self._roles[client_order_id] = "entry"
        res: PlaceResult = self.inner.place_limit_buy(
            client_order_id, product_id, size, limit_price
        )
        self.journal.add(Step(self.tick, "place_entry", "entry", limit_price, None, size))
        return self._answer(res)

    def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
        **kw: Any,
    ) -> PlaceResult:
        self._busy("place stop")
        if self._flight is not None and self.tick >= self._flight.at:
            flight, self._flight = self._flight, None
            last = self.inner.last_price(product_id)
            q = self.inner.product(product_id).quote_increment
            price = (last * (1 + flight.pct)).quantize(q)
            self.journal.add(Step(self.tick, "print", "", price, note="landed while in flight"))
            trade = MarketTrade(product_id, price, Decimal("0.0001"), self.last_ts + 1, "in-flight")
            self._fills(self.inner.advance(trade))
        self._stops += 1
        role = f"stop {self._stops}"
        self._roles[client_order_id] = role
        res: PlaceResult = self.inner.place_stop_limit(
            client_order_id, product_id, size, stop_price, limit_price, **kw
        )
        self.journal.add(Step(self.tick, "place_stop", role, stop_price, limit_price, size))
        return self._answer(res)

    def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        self._busy("place exit")
        self._roles[client_order_id] = "exit"
        res: PlaceResult = self.inner.place_limit_sell(
            client_order_id, product_id, size, limit_price
        )
        self.journal.add(Step(self.tick, "place_exit", "exit", limit_price, None, size))
        return self._answer(res)

    def place_market_ioc(self, client_order_id: str, product_id: str, side: Any, **kw: Any) -> Any:
        self._busy("place exit")
        self._roles[client_order_id] = "exit"
        res = self.inner.place_market_ioc(client_order_id, product_id, side, **kw)
        self.journal.add(Step(self.tick, "place_exit", "exit", note="market"))
        return self._answer(res)

    def _answer(self, res: PlaceResult) -> PlaceResult:
        if res.success and res.order_id:
            self._by_order_id[res.order_id] = res.client_order_id
        else:
            role = self._roles.get(res.client_order_id, "?")
            self.journal.add(Step(self.tick, "refused", role, note=res.failure_reason))
        return res

    def cancel_order(self, order_id: str) -> CancelResult:
        self._busy("cancel")
        role = self._roles.get(self._by_order_id.get(order_id, ""), "?")
        self.journal.add(Step(self.tick, "cancel", role))
        res: CancelResult = self.inner.cancel_order(order_id)
        if res.success:
            self.journal.add(Step(self.tick, "cancel_confirmed", role))
        else:
            self.journal.add(Step(self.tick, "cancel_refused", role, note=res.failure_reason))
        return res

    def get_order(self, order_id: str) -> Any:
        self._busy("look up an order")
        return self.inner.get_order(order_id)

    def get_order_by_client_id(self, client_order_id: str) -> Any:
        self._busy("look up an order")
        return self.inner.get_order_by_client_id(client_order_id)

    def role(self, client_order_id: str) -> str:
        return self._roles.get(client_order_id, "?")


def reference_run(scenario: Scenario | str, seed: int | None = None) -> Journal:
    """The reference journal: the live engine's decisions on the scenario (and seed).

    The backtest path (`DecisionEngine` + pair driver, no store) on the scenario's trades,
    through a `ScenarioExchange`; a `ws_drop` hides its trades from the engine (the
    exchange still matches them), and what filled meanwhile reaches the engine when the
    feed is back, as a resync would tell it."""
    from tradekit.backtest.runner import Steps, Trace
    from tradekit.core.decision import DecisionEngine

    sc = load(scenario)
    if seed is not None:
        sc = sc.with_seed(seed)
    spec = sc.spec()
    exchange = ScenarioExchange(sc)
    decision = DecisionEngine(spec.params(), spec.entry.make(), "ref")
    steps = Steps(decision, exchange, Trace())
    drop = sc.event("ws_drop")
    missed: list[Fill] = []
    last_seen: MarketTrade | None = None
    held = Decimal(0)
    for tick, trade in enumerate(sc.trades()):
        exchange.tick = tick
        if drop is not None and drop.covers(tick):
            missed += exchange.advance(trade)
            continue
        if missed:
            fills, missed = missed, []
            steps.act(tick, last_seen or trade, fills, None)
        steps.trade(tick, trade)
        last_seen = trade
        now = decision.position.open_size if decision.position is not None else Decimal(0)
        if now != held:
            held = now
            exchange.journal.add(Step(tick, "booked", "position", size=held))
    return exchange.journal
