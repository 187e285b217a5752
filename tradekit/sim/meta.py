"""What Coinbase reports about an order that the paper exchange does not keep.

The paper exchange knows a GTC limit buy and a GTC stop-limit sell; the simulator also
accepts their GTD variants, `post_only`, and edits, and must echo them back
(`order_configuration`, `time_in_force`, `edit_history`). That is kept here, keyed by
client_order_id (known before the order id, so that the order's first bus message can
already carry it).

With a path, every committed entry is appended to a JSON-lines side file next to the
paper journal (`tradekit.jsonl`: whole lines, a torn last line cut off on open) and read
back on restart. Lines are flushed, not fsync'd: this is presentation only (a lost line
shows a GTD order as GTC, or an edit without its history entry), never money, which the
fsync'd paper journal keeps; a line that does not parse is skipped for the same reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.core.money import plain
from tradekit.jsonl import JsonlFile

LIMIT_GTC = "limit_limit_gtc"
LIMIT_GTD = "limit_limit_gtd"
STOP_LIMIT_GTC = "stop_limit_stop_limit_gtc"
STOP_LIMIT_GTD = "stop_limit_stop_limit_gtd"
MARKET_IOC = "market_market_ioc"
LIMIT_IOC = "sor_limit_ioc"
LIMIT_FOK = "limit_limit_fok"
BRACKET_GTC = "trigger_bracket_gtc"
CONFIG_KEYS = (
    LIMIT_GTC,
    LIMIT_GTD,
    STOP_LIMIT_GTC,
    STOP_LIMIT_GTD,
    MARKET_IOC,
    LIMIT_IOC,
    LIMIT_FOK,
    BRACKET_GTC,
)
_TIME_IN_FORCE = {
    LIMIT_GTD: "GOOD_UNTIL_DATE_TIME",
    STOP_LIMIT_GTD: "GOOD_UNTIL_DATE_TIME",
    MARKET_IOC: "IMMEDIATE_OR_CANCEL",
    LIMIT_IOC: "IMMEDIATE_OR_CANCEL",
    LIMIT_FOK: "FILL_OR_KILL",
}


@dataclass(frozen=True, slots=True)
class EditEntry:
    """One accepted edit: the values asked for and when it was accepted (ns)."""

    price: Decimal
    size: Decimal
    stop_price: Decimal | None
    ts: int


@dataclass(slots=True)
class OrderMeta:
    config_key: str  # one of CONFIG_KEYS
    post_only: bool = False
    end_time: str | None = None  # RFC3339 as the client sent it (GTD only)
    stop_direction: str | None = None  # stop-limits only
    quote_size: Decimal | None = None  # a market buy sized by what it spends
    stop_trigger_price: Decimal | None = None  # a bracket's stop leg (never triggers here)
    edits: list[EditEntry] = field(default_factory=list)

    @property
    def time_in_force(self) -> str:
        return _TIME_IN_FORCE.get(self.config_key, "GOOD_UNTIL_CANCELLED")


class OrderMetaStore:
    """client_order_id -> OrderMeta; `stage` before placing, `commit` once accepted."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._meta: dict[str, OrderMeta] = {}
        self._staged: dict[str, OrderMeta] = {}
        self._file: JsonlFile | None = None
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self._file = JsonlFile(self.path)  # a torn last line is cut off
            self._load(self._file.lines)
            self._file.lines = []

    def get(self, client_order_id: str) -> OrderMeta | None:
        return self._meta.get(client_order_id) or self._staged.get(client_order_id)

    def stage(self, client_order_id: str, meta: OrderMeta) -> None:
        self._staged[client_order_id] = meta

    def commit(self, client_order_id: str) -> None:
        meta = self._staged.pop(client_order_id, None)
        if meta is None:
            return
        self._meta[client_order_id] = meta
        self._append(
            {
                "op": "order",
                "coid": client_order_id,
                "config_key": meta.config_key,
                "post_only": meta.post_only,
                "end_time": meta.end_time,
                "stop_direction": meta.stop_direction,
                "quote_size": None if meta.quote_size is None else plain(meta.quote_size),
                "stop_trigger_price": (
                    None if meta.stop_trigger_price is None else plain(meta.stop_trigger_price)
                ),
            }
        )

    def discard(self, client_order_id: str) -> None:
        self._staged.pop(client_order_id, None)

    def add_edit(self, client_order_id: str, edit: EditEntry) -> None:
        meta = self._meta.get(client_order_id)
        if meta is None:  # an order from before the side file existed: defaults
            return
        meta.edits.append(edit)
        self._append(
            {
                "op": "edit",
                "coid": client_order_id,
                "price": plain(edit.price),
                "size": plain(edit.size),
                "stop_price": None if edit.stop_price is None else plain(edit.stop_price),
                "ts": edit.ts,
            }
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _append(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.append(record)

    def _load(self, lines: list[bytes]) -> None:
        """Read the side file's complete lines."""
        for line in lines:
            try:
                rec = json.loads(line)
                if rec["op"] == "order":
                    self._meta[rec["coid"]] = OrderMeta(
                        config_key=rec["config_key"],
                        post_only=bool(rec["post_only"]),
                        end_time=rec["end_time"],
                        stop_direction=rec["stop_direction"],
                        quote_size=_decimal_or_none(rec.get("quote_size")),
                        stop_trigger_price=_decimal_or_none(rec.get("stop_trigger_price")),
                    )
                elif rec["op"] == "edit" and rec["coid"] in self._meta:
                    stop = rec["stop_price"]
                    self._meta[rec["coid"]].edits.append(
                        EditEntry(
                            Decimal(rec["price"]),
                            Decimal(rec["size"]),
                            None if stop is None else Decimal(stop),
                            int(rec["ts"]),
                        )
                    )
            except (ValueError, KeyError, TypeError, ArithmeticError):
                continue  # a foreign line: presentation only, skip it


def _decimal_or_none(text: object) -> Decimal | None:
    return Decimal(text) if isinstance(text, str) else None
