"""`tradekit demo`: one pair on a seeded path, paper exchange, SQLite store, a summary.

Same seed, same output: the path, the exchange's ids and the engine's ids are all
deterministic, and nothing reads the wall clock.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tradekit import format as fmt
from tradekit.core.decision import DecisionEngine, PairParams
from tradekit.core.entry import EntryRule, PullbackEntry
from tradekit.core.events import MarketTrade
from tradekit.core.position import TrailParams
from tradekit.data.generators import PricePath
from tradekit.engine.execution import ExecutionEngine
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.store.sqlite import Store

SECOND_NS = 1_000_000_000


@dataclass(frozen=True)
class DemoSetup:
    """The demo's pair: BTC-USD, 0.05 BTC a trade, a 1.5 % trail, pullback entries."""

    seed: int = 7
    ticks: int = 20_000
    product_id: str = "BTC-USD"
    start_price: Decimal = Decimal("60000")
    size: Decimal = Decimal("0.05")
    trail_pct: Decimal = Decimal("0.015")
    stop_limit_buffer_pct: Decimal = Decimal("0.005")
    min_ratchet: Decimal = Decimal("0.001")
    pullback_pct: Decimal = Decimal("0.005")
    max_entry_wait_s: int = 600
    volatility: float = 0.6

    def _repr_html_(self) -> str:
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return fmt.facts_html(values, DEFAULT_PRODUCTS.get(self.product_id))

    def path(self) -> PricePath:
        return PricePath(
            self.product_id,
            self.start_price,
            self.ticks,
            seed=self.seed,
            tick_ns=5 * SECOND_NS,
            volatility=self.volatility,
        )

    def params(self) -> PairParams:
        return PairParams(
            DEFAULT_PRODUCTS[self.product_id],
            TrailParams(self.trail_pct, self.stop_limit_buffer_pct, self.min_ratchet),
            self.max_entry_wait_s * SECOND_NS,
            size=self.size,
        )

    def rule(self) -> EntryRule:
        return PullbackEntry(self.pullback_pct, 3600 * SECOND_NS, Decimal("0.001"))

    def balances(self) -> dict[str, Decimal]:
        return {"USD": Decimal("100000"), "BTC": Decimal("0")}

    def exchange(self, state_path: str | Path | None = None) -> PaperExchange:
        return PaperExchange(
            balances=self.balances(),
            state_path=None if state_path is None else str(state_path),
        )

    def engine(
        self,
        store: Store,
        exchange: Any,
        run_id: str,
        trades: Sequence[MarketTrade] | None = None,
    ) -> ExecutionEngine:
        """The sync engine on this setup; `trades` replaces the generated path if given."""
        path = self.path()

        def ticks(start: int) -> Iterator[MarketTrade]:
            return path.ticks(start) if trades is None else iter(trades[start:])

        decision = DecisionEngine(self.params(), self.rule(), f"{run_id}-{self.product_id}")
        return ExecutionEngine(decision, exchange, store, ticks)


def run_demo(
    seed: int = 7,
    ticks: int = 20_000,
    db: str | None = None,
    out: TextIO | None = None,
    exchange: str = "paper",
) -> dict[str, object]:
    """Run the demo and print its summary; returns the figures it printed.

    `exchange="sim"` starts `tradekit sim` in the background and trades through the
    generated sync Coinbase adapter over real sockets (one HTTP request per tick to move
    the simulator's market, so keep `ticks` small); the result is the paper demo's.
    """
    setup = DemoSetup(seed=seed, ticks=ticks)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(db) if db else Path(tmp) / "demo.sqlite"
        with Store(path) as store:
            if exchange == "paper":
                engine = setup.engine(store, setup.exchange(), f"demo{seed}")
                engine.run()
                return _summary(setup, engine, store, out)
            if exchange != "sim":
                raise ValueError(f"--exchange must be paper or sim, not {exchange!r}")
            return _run_on_sim(setup, store, Path(tmp), out)


def _run_on_sim(setup: DemoSetup, store: Store, tmp: Path, out: TextIO | None) -> dict[str, object]:
    from tradekit.exchange.coinbase import CoinbaseRest, Credentials
    from tradekit.sim.client import DrivenExchange, SimMarket
    from tradekit.sim.server import SimServer

    keys = tmp / "sim-key.json"
    # whole fills, as the paper exchange this run is compared with (`DemoSetup.exchange`)
    with SimServer(
        keys_file=keys, balances=setup.balances(), rate_limit_per_s=1e6, fill_model="full"
    ) as sim:
        rest = CoinbaseRest(Credentials.from_file(keys), sim.base_url)
        driven = DrivenExchange(rest, SimMarket(sim.base_url, admin_token=sim.admin_token))
        try:
            engine = setup.engine(store, driven, f"demo{setup.seed}")
            engine.run()
            return _summary(setup, engine, store, out)
        finally:
            driven.close()


def _summary(
    setup: DemoSetup, engine: ExecutionEngine, store: Store, out: TextIO | None
) -> dict[str, object]:
    closed = store.closed_positions(setup.product_id)
    stops = store.stop_history(setup.product_id)
    entries = [r for r in store.journal(product_id=setup.product_id, kinds=["report"])]
    placed = sum(1 for r in entries if r["type"] == "EntryPlaced")
    timeouts = sum(
        1
        for r in entries
        if r["type"] == "EntryEnded" and Decimal(r["payload"]["filled_size"]) == 0
    )
    pnl = store.total_realized_pnl(setup.product_id)
    product = DEFAULT_PRODUCTS[setup.product_id]
    moves = sum(1 for s in stops if s["old_trigger"] is not None)
    lines = [
        f"tradekit demo: {setup.product_id}, seed {setup.seed}, {setup.ticks:,} ticks, "
        f"trail {fmt.pct(setup.trail_pct)}, size {fmt.size(setup.size, product)}",
        f"  entries placed {placed}, timed out unfilled {timeouts}, "
        f"positions closed {len(closed)}, stops placed {len(stops) - moves}, "
        f"stop moves {moves}",
    ]
    for i, p in enumerate(closed, 1):
        lines.append(
            f"  #{i:<3} entry {fmt.price(p['entry_price'], product)}"
            f"  exit {fmt.price(p['exit_price'], product)}"
            f"  size {fmt.size(p['size'], product)}  fees {fmt.money(p['fees'])}  "
            f"P&L {fmt.signed_money(p['realized_pnl'])}"
        )
    summary = engine.summary()
    if summary["position"] is not None:
        pos = summary["position"]
        assert isinstance(pos, dict)
        lines.append(
            f"  open: {fmt.size(pos['open_size'], product)} from "
            f"{fmt.price(pos['entry_price'], product)}, "
            f"stop {fmt.price(pos['stop_trigger'], product)} / "
            f"{fmt.price(pos['stop_limit'], product)}"
        )
    lines.append(f"  realized P&L {fmt.signed_money(pnl, 'USD')} (fees included)")
    if out is not None:
        out.write("\n".join(lines) + "\n")
    return {
        "placed": placed,
        "closed": len(closed),
        "stop_moves": moves,
        "realized_pnl": pnl,
        "text": "\n".join(lines),
    }
