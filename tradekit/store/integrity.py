"""Checksums of what the store wrote: damage found on reading, named, never silent.

Each journal row, each engine snapshot and each row of the tables in `SEALED` carries a
CRC-32 of its fields as written (damage, not tampering: a bit flipped on disk, a torn
page). `verify` checks them all when a store opens; `reads` turns damage met on a later
read into a `StoreError` naming the file, the table and what to do.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import zlib
from collections.abc import Callable, Sequence
from decimal import InvalidOperation
from typing import Any, Protocol, TypeVar

from tradekit.store.schema import REMEDY, StoreError

__all__ = ["SEALED", "checksum", "reads", "seal", "verify"]


def checksum(*parts: Any) -> int:
    """The checksum of a row's fields as written (CRC-32: damage, not tampering)."""
    return zlib.crc32("\x1f".join("" if p is None else str(p) for p in parts).encode())


def journal_damage(row: Sequence[Any]) -> str | None:
    """Why a journal row (seq, ts, product_id, kind, type, payload, crc) is damaged."""
    seq, ts, pid, kind, type_name, payload, crc = row
    if crc is not None and crc != checksum(ts, pid, kind, type_name, payload):
        return f"journal row {seq} ({pid or 'no pair'}, {type_name}) fails its checksum"
    return None


def snapshot_damage(pid: str, snapshot: str, crc: int | None) -> str | None:
    """Why a pair's saved engine snapshot is damaged (checksum, then JSON)."""
    if crc is not None and crc != checksum(pid, snapshot):
        return f"the engine snapshot of {pid} (table engine_state) fails its checksum"
    try:
        json.loads(snapshot)
    except ValueError as e:
        return f"the engine snapshot of {pid} (table engine_state) is not JSON ({e})"
    return None


# The columns each table's checksum covers, in order (`fills.side` is filled in by SQL
# from the order: left out). The journal and engine_state have their own, above.
SEALED: dict[str, tuple[str, ...]] = {
    "orders": (
        "client_order_id", "product_id", "order_id", "side", "order_type", "status", "size",
        "limit_price", "stop_price", "filled_size", "filled_value", "fees", "triggered",
        "trade_ids", "reason", "created_ts", "updated_ts",
    ),
    "fills": ("client_order_id", "trade_id", "product_id", "price", "size", "fee", "ts"),
    "positions": (
        "product_id", "opened_ts", "closed_ts", "size", "entry_price", "exit_price", "fees",
        "realized_pnl",
    ),
    "stop_history": (
        "position_id", "product_id", "ts", "old_trigger", "trigger", "limit_price", "price",
        "highest",
    ),
}  # fmt: skip


def seal(conn: sqlite3.Connection, table: str, where: str, params: Sequence[Any]) -> None:
    """Set the checksum of the rows of `table` just written (in the same transaction)."""
    cols = SEALED[table]
    rows = conn.execute(f"SELECT rowid, {', '.join(cols)} FROM {table} WHERE {where}", params)
    conn.executemany(
        f"UPDATE {table} SET crc = ? WHERE rowid = ?", [(checksum(*r[1:]), r[0]) for r in rows]
    )


def sealed_damage(table: str, row: Sequence[Any]) -> str | None:
    """Why a row (rowid, *SEALED[table], crc) is damaged."""
    crc = row[-1]
    if crc is not None and crc != checksum(*row[1:-1]):
        return f"{table} row {row[0]} ({row[2] if table != 'fills' else row[3]}) fails its checksum"
    return None


def verify(conn: sqlite3.Connection, path: str) -> None:
    """Every checksum and snapshot of an open store (reads only)."""
    try:
        for table, cols in SEALED.items():
            for row in conn.execute(
                f"SELECT rowid, {', '.join(cols)}, crc FROM {table} WHERE crc IS NOT NULL"
            ):
                why = sealed_damage(table, row)
                if why is not None:
                    raise StoreError(path, f"damaged: {why}; {REMEDY}")
        for pid, snapshot, crc in conn.execute(
            "SELECT product_id, snapshot, crc FROM engine_state"
        ):
            why = snapshot_damage(pid, snapshot, crc)
            if why is not None:
                raise StoreError(path, f"damaged: {why}; {REMEDY}")
        for row in conn.execute(
            "SELECT seq, ts, product_id, kind, type, payload, crc FROM journal "
            "WHERE crc IS NOT NULL"
        ):
            why = journal_damage(row)
            if why is not None:
                raise StoreError(path, f"damaged: {why}; {REMEDY}")
    except sqlite3.DatabaseError as e:
        raise StoreError(path, f"damaged: cannot read it through ({e}); {REMEDY}") from e


_R = TypeVar("_R")


class _HasPath(Protocol):
    path: str


def reads(table: str) -> Callable[[Callable[..., _R]], Callable[..., _R]]:
    """A read of `table`: damage met on the way is a StoreError naming the file, the
    table and what to do, never a raw sqlite3 or JSON error."""

    def wrap(read: Callable[..., _R]) -> Callable[..., _R]:
        @functools.wraps(read)
        def checked(self: _HasPath, *args: Any, **kwargs: Any) -> _R:
            try:
                return read(self, *args, **kwargs)
            except sqlite3.ProgrammingError:
                raise  # a misuse (another thread, a closed store), not damage
            except sqlite3.OperationalError as e:
                if "locked" in str(e) or "busy" in str(e):
                    raise StoreError(self.path, f"reading {table}: {e} (try again)") from e
                raise StoreError(
                    self.path, f"damaged: reading {table} failed ({e}); {REMEDY}"
                ) from e
            except (sqlite3.DatabaseError, json.JSONDecodeError, InvalidOperation) as e:
                raise StoreError(
                    self.path, f"damaged: reading {table} failed ({e}); {REMEDY}"
                ) from e

        return checked

    return wrap
