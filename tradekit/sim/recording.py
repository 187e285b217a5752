"""A class session on one file: the market and every student's requests, in order.

One JSON object a line, each with `seq` (its place in the session) and `ts` (the market's
clock: the time of the last trade printed, in ns). Kinds:

- `start` (students, scenario, seed), `reset`, `control` (a moderator's action);
- `trade`: product_id, price, size, trade_id;
- `order`: student, call (place_limit_buy, place_stop_limit, ...), args (as sent),
  success, order_id, client_order_id, failure_reason;
- `cancel`: student, order_id, success, failure_reason;
- `fill`: student, order_id, side, price, size, commission;
- `request`: student, method, path, status (every private HTTP request).

Decimals travel as strings. Everything happens on the simulator's loop, one thing at a
time, so the file's order is the order things happened: replaying a student's lines with
the trades on a fresh paper exchange rebuilds their account (see the classroom test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

__all__ = ["Recorder", "read_recording"]


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return value.value  # an enum
    return value


class Recorder:
    """Appends a session's events to a file (and keeps them for the live leaderboard)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.events: list[dict[str, Any]] = []
        self.market_ts = 0
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"seq": len(self.events), "ts": self.market_ts, "kind": kind, **_plain(fields)}
        self.events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(event, separators=(",", ":")) + "\n")
        return event

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_recording(path: str | Path) -> Iterator[dict[str, Any]]:
    """The events of a recording file; a bad line is named with its number."""
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a JSON line: {exc}") from None
            if not isinstance(event, dict) or "kind" not in event:
                raise ValueError(f"{path}:{n}: not a recording event (no kind)")
            yield event
