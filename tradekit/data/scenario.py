"""The deck: seeded market scenarios, one TOML file each, shared by every teaching tool.

A scenario is a seeded `PricePath` (product, start price, ticks, drift, volatility), the
rules of the pair that trades it (trail, stop-limit buffer) and a list of events at tick
indexes: a `gap` moves every later price by `pct`; a `print_in_flight` lands a print
`pct` away while the next stop is on its way; a `ws_drop` cuts the feed for `ticks`; a
`rate_limit_burst` answers every private request with 429 for `ticks`. The same file
drives an exercise (`tradekit.teaching.check`), the classroom simulator and a backtest
(`tradekit.teaching.Scenario.backtest()`), so a class can talk about "the gap" and mean
one thing.

`load(name)` reads a deck file (`tradekit/data/scenarios/<name>.toml`) or a path;
`deck()` lists them all (`tradekit scenarios` prints it). The scenario is market data,
so it lives here, below the simulator that serves it; the rules that make it a
backtest are the teaching layer's (`tradekit.teaching.scenario`).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Self

from tradekit.core.events import MarketTrade
from tradekit.data.generators import PricePath

__all__ = ["DECK_DIR", "EVENT_KINDS", "Scenario", "ScenarioEvent", "deck", "load", "student_seed"]

DECK_DIR = Path(__file__).with_name("scenarios")
EVENT_KINDS = ("gap", "print_in_flight", "ws_drop", "rate_limit_burst")


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    """Something that happens to the market or the connection at tick `at`."""

    at: int
    kind: str
    pct: Decimal = Decimal(0)  # gap / print_in_flight: how far the price moves
    ticks: int = 0  # ws_drop / rate_limit_burst: for how long

    def covers(self, tick: int) -> bool:
        """Is `tick` inside this event's window (drops and bursts)?"""
        return self.at <= tick < self.at + self.ticks

    def describe(self) -> str:
        if self.kind == "gap":
            return f"tick {self.at}: a gap of {self.pct:+.1%}"
        if self.kind == "print_in_flight":
            return f"tick {self.at}: a print {self.pct:+.1%} away while a stop is in flight"
        if self.kind == "ws_drop":
            return f"ticks {self.at}-{self.at + self.ticks - 1}: the WebSocket is down"
        return f"ticks {self.at}-{self.at + self.ticks - 1}: every private request gets 429"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One deck file, parsed and checked (see the module docstring)."""

    name: str
    title: str
    summary: str
    product: str
    start_price: Decimal
    ticks: int
    seed: int
    drift: float = 0.0
    volatility: float = 0.5
    jump_intensity: float = 0.0
    trail_pct: Decimal = Decimal("0.01")
    stop_limit_buffer_pct: Decimal = Decimal("0.005")
    events: tuple[ScenarioEvent, ...] = field(default_factory=tuple)
    source: Path | None = None

    def with_seed(self, seed: int) -> Self:
        """The same scenario on another seed (a student's variant)."""
        return replace(self, seed=seed)

    def path(self) -> PricePath:
        """The seeded path before events (one trade a second)."""
        return PricePath(
            self.product,
            self.start_price,
            self.ticks,
            seed=self.seed,
            drift=self.drift,
            volatility=self.volatility,
            jump_intensity=self.jump_intensity,
        )

    def trades(self) -> list[MarketTrade]:
        """The market's trades, gaps applied: what every student sees, tick for tick."""
        path = self.path()
        q = path.quote_increment
        factor = Decimal(1)
        gaps = {e.at: e.pct for e in self.events if e.kind == "gap"}
        out: list[MarketTrade] = []
        for tick, trade in enumerate(path):
            if tick in gaps:
                factor *= 1 + gaps[tick]
            if factor != 1:
                price = (trade.price * factor).quantize(q)
                trade = replace(trade, price=max(price, q))
            out.append(trade)
        return out

    def event(self, kind: str) -> ScenarioEvent | None:
        """The first event of `kind`, if any."""
        return next((e for e in self.events if e.kind == kind), None)

    def describe(self) -> str:
        lines = [f"{self.name}: {self.title} ({self.summary})"]
        lines += [f"  {e.describe()}" for e in self.events]
        return "\n".join(lines)


def student_seed(base_seed: int, student: str, assignment: str) -> int:
    """A student's own seed for an assignment: stable, and different per student.

    Derived with SHA-256 from the three, so a regrade gives the same market and no two
    students (in practice) share one."""
    digest = hashlib.sha256(f"{assignment}\0{student}\0{base_seed}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _dec(raw: dict[str, Any], name: str, where: str, default: Decimal | None = None) -> Decimal:
    if name not in raw:
        if default is None:
            raise ValueError(f"{where}: {name} is missing")
        return default
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f'{where}: {name} must be a decimal string like "0.01", got {value!r}')
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{where}: {name} is not a number: {value!r}") from None


def _int(raw: dict[str, Any], name: str, where: str, default: int | None = None) -> int:
    value = raw.get(name, default)
    if value is None:
        raise ValueError(f"{where}: {name} is missing")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}: {name} must be a whole number >= 0, got {value!r}")
    return value


def _float(raw: dict[str, Any], name: str, where: str, default: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}")
    return float(value)


def parse(
    raw: dict[str, Any],
    name: str,
    source: Path | None = None,
    as_type: type[Scenario] | None = None,
) -> Scenario:
    """A scenario from a TOML table; errors name the file and the field."""
    where = str(source or name)
    known = {"title", "summary", "product", "start_price", "ticks", "seed", "drift"}
    known |= {"volatility", "jump_intensity", "rules", "events"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    rules = raw.get("rules", {})
    if not isinstance(rules, dict):
        raise ValueError(f"{where}: [rules] must be a table")
    events = []
    for i, ev in enumerate(raw.get("events", [])):
        at = f"{where}: events[{i}]"
        kind = ev.get("kind")
        if kind not in EVENT_KINDS:
            raise ValueError(f"{at}: kind {kind!r} is not one of {', '.join(EVENT_KINDS)}")
        pct = _dec(ev, "pct", at, Decimal(0))
        length = _int(ev, "ticks", at, 0)
        if kind in ("gap", "print_in_flight") and not -1 < pct < 1:
            raise ValueError(f"{at}: pct must be between -1 and 1, got {pct}")
        if kind in ("ws_drop", "rate_limit_burst") and length < 1:
            raise ValueError(f"{at}: ticks (how long) must be at least 1")
        events.append(ScenarioEvent(_int(ev, "at", at), kind, pct, length))
    ticks = _int(raw, "ticks", where)
    for e in events:
        if e.at >= ticks:
            raise ValueError(f"{where}: an event at tick {e.at} is past the last tick {ticks - 1}")
    for text in ("title", "summary", "product"):
        if not isinstance(raw.get(text), str):
            raise ValueError(f"{where}: {text} must be a string")
    return (as_type or Scenario)(
        name=name,
        title=raw["title"],
        summary=raw["summary"],
        product=raw["product"],
        start_price=_dec(raw, "start_price", where),
        ticks=ticks,
        seed=_int(raw, "seed", where),
        drift=_float(raw, "drift", where, 0.0),
        volatility=_float(raw, "volatility", where, 0.5),
        jump_intensity=_float(raw, "jump_intensity", where, 0.0),
        trail_pct=_dec(rules, "trail_pct", where, Decimal("0.01")),
        stop_limit_buffer_pct=_dec(rules, "stop_limit_buffer_pct", where, Decimal("0.005")),
        events=tuple(sorted(events, key=lambda e: e.at)),
        source=source,
    )


def load(name_or_path: str | Path | Scenario, as_type: type[Scenario] | None = None) -> Scenario:
    """A deck scenario by name (`gap-through`) or a scenario file by path (as `as_type`:
    the teaching layer's Scenario, which can backtest itself)."""
    as_type = as_type or Scenario
    if isinstance(name_or_path, as_type):
        return name_or_path
    if isinstance(name_or_path, Scenario):
        return as_type(**{f.name: getattr(name_or_path, f.name) for f in fields(Scenario)})
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = DECK_DIR / f"{name_or_path}.toml"
        if not path.exists():
            names = ", ".join(s.name for s in deck())
            raise ValueError(f"no scenario {name_or_path!r} in the deck ({names})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, path.stem, path, as_type)


def deck(as_type: type[Scenario] | None = None) -> list[Scenario]:
    """Every scenario of the deck, by name."""
    return [load(p, as_type) for p in sorted(DECK_DIR.glob("*.toml"))]


def iter_names() -> Iterator[str]:
    return (p.stem for p in sorted(DECK_DIR.glob("*.toml")))
