"""The class leaderboard: P&L, and how it was earned.

Figures per student from a session's events (`tradekit.sim.recording`), since the last
reset:

- `pnl`: what the student's trades made, marked at the last trade: sales less purchases
  less commissions, plus the base bought and still held at the last price;
- `unprotected_s`: market time while the student held base with no stop working (a stop
  works from its acceptance until it is cancelled or filled in full);
- `refused`: orders the exchange refused;
- `requests_per_position`: private requests per position opened (None before the first).

Two rankings: by P&L, and by process (least unprotected time, then fewest refusals, then
fewest requests per position): a lucky P&L with naked positions ranks low on the second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["StudentFigures", "figures", "leaderboard"]

NS = 1_000_000_000
ZERO = Decimal(0)


@dataclass
class StudentFigures:
    student: str
    cash: Decimal = ZERO  # sales - purchases - commissions
    held: Decimal = ZERO  # base bought less base sold
    pnl: Decimal = ZERO
    unprotected_ns: int = 0
    refused: int = 0
    requests: int = 0
    positions: int = 0
    stops: dict[str, Decimal] = field(default_factory=dict)  # working stop -> size
    stop_filled: dict[str, Decimal] = field(default_factory=dict)
    since: int | None = None  # held without a stop since this market time

    @property
    def requests_per_position(self) -> Decimal | None:
        if not self.positions:
            return None
        return (Decimal(self.requests) / self.positions).quantize(Decimal("0.01"))

    def as_dict(self) -> dict[str, Any]:
        rpp = self.requests_per_position
        return {
            "student": self.student,
            "pnl": str(self.pnl.quantize(Decimal("0.01"))),
            "pnl_exact": str(self.pnl),
            "unprotected_s": round(self.unprotected_ns / NS, 3),
            "refused": self.refused,
            "requests": self.requests,
            "positions": self.positions,
            "requests_per_position": None if rpp is None else str(rpp),
        }

    def _exposed(self) -> bool:
        return self.held > 0 and not self.stops

    def _tick(self, ts: int, was_exposed: bool) -> None:
        """Account for an event at `ts` that may have changed the exposure."""
        now = self._exposed()
        if was_exposed and not now and self.since is not None:
            self.unprotected_ns += ts - self.since
            self.since = None
        elif now and not was_exposed:
            self.since = ts


def figures(
    events: Iterable[dict[str, Any]], students: Iterable[str] = ()
) -> dict[str, StudentFigures]:
    """Every student's figures from the session's events (the last reset on)."""
    figs: dict[str, StudentFigures] = {s: StudentFigures(s) for s in students}
    last_price: dict[str, Decimal] = {}
    end_ts = 0
    for ev in events:
        kind = ev["kind"]
        end_ts = max(end_ts, int(ev.get("ts", 0)))
        if kind == "reset":
            figs = {s: StudentFigures(s) for s in figs}
            last_price.clear()
            continue
        if kind == "start":
            for s in ev.get("students", []):
                figs.setdefault(s, StudentFigures(s))
            continue
        if kind == "trade":
            last_price[ev["product_id"]] = Decimal(ev["price"])
            continue
        student = ev.get("student")
        if student is None:
            continue
        f = figs.setdefault(student, StudentFigures(student))
        was = f._exposed()
        ts = int(ev["ts"])
        if kind == "request":
            f.requests += 1
        elif kind == "order":
            if not ev["success"]:
                f.refused += 1
            elif ev["call"] == "place_stop_limit" and ev["args"].get("side", "SELL") == "SELL":
                f.stops[ev["order_id"]] = Decimal(ev["args"]["size"])
                f.stop_filled[ev["order_id"]] = ZERO
        elif kind == "cancel":
            if ev["success"]:
                f.stops.pop(ev["order_id"], None)
        elif kind == "fill":
            size, price = Decimal(ev["size"]), Decimal(ev["price"])
            commission = Decimal(ev["commission"])
            if ev["side"] == "BUY":
                if f.held <= 0:
                    f.positions += 1
                f.held += size
                f.cash -= size * price + commission
            else:
                f.held -= size
                f.cash += size * price - commission
            oid = ev["order_id"]
            if oid in f.stops:
                f.stop_filled[oid] += size
                if f.stop_filled[oid] >= f.stops[oid]:
                    del f.stops[oid]
        f._tick(ts, was)
    mark = next(iter(last_price.values()), ZERO) if len(last_price) <= 1 else None
    for f in figs.values():
        if f.since is not None:
            f.unprotected_ns += end_ts - f.since
            f.since = end_ts
        price = mark if mark is not None else ZERO
        f.pnl = f.cash + f.held * price
    return figs


def leaderboard(figs: dict[str, StudentFigures]) -> dict[str, Any]:
    """Both rankings, best first, each row the student's figures."""
    rows = [f.as_dict() for f in figs.values()]
    by_pnl = sorted(figs.values(), key=lambda f: (-f.pnl, f.student))

    def process_key(f: StudentFigures) -> tuple[Any, ...]:
        rpp = f.requests_per_position
        return (
            f.unprotected_ns,
            f.refused,
            rpp if rpp is not None else Decimal("Infinity"),
            f.student,
        )

    by_process = sorted(figs.values(), key=process_key)
    return {
        "students": rows,
        "by_pnl": [f.student for f in by_pnl],
        "by_process": [f.student for f in by_process],
    }
