"""SQLite persistence for the trading engine: one file, WAL mode, versioned migrations.

    with Store.open("run.sqlite") as store:
        commands = engine.handle(event)
        store.record(pid, event=event, commands=commands, reports=engine.take_reports(),
                     orders=touched_orders, snapshot=engine.snapshot(), ts=now_ns)
        ...send the commands...   # only after record() returned: the intent is on disk
        store.record_outcome(pid, command, {"success": True, "order_id": oid}, ts=now_ns)

`record()` is the one write the engine makes: the event, the commands it produced (their
intent, committed before the driver sends them), the reports, the orders it touched and
the engine's snapshot all go into one transaction, so after a crash the file holds either
all of a step or none of it.

Durability. WAL with `synchronous=NORMAL` (the default) does not fsync on each commit,
only at checkpoints: a commit is in the OS's page cache when `record()` returns, so a
*process* crash (kill -9, an exception, a closed notebook kernel) loses nothing committed;
a power loss or OS crash may lose the last few commits (the file stays consistent).
`Store(path, durable=True)` sets `synchronous=FULL`, which fsyncs the WAL on every commit
and survives power loss too, at the price of one fsync per `record()`.

Threads. A Store wraps one `sqlite3.Connection`, usable only from the thread that opened
it (sqlite3's `check_same_thread`): open one Store per thread. Several Stores, in threads
or processes, may share the file: WAL lets readers run while one writer writes, and
writers take the lock up front (`BEGIN IMMEDIATE`) and wait up to `timeout` seconds.

Money is stored as TEXT decimal strings and read back as `Decimal`; sums are done in
Python with Decimal, never as SQL floats.

Damage. A store is checked for real when it opens: SQLite's full integrity check (every
page, and every index against its table), then the checksum (CRC-32) that every row of
the journal, the engine snapshots, orders, fills, positions and stop moves carries since
schema v3, so that a flipped digit in a row that SQLite still reads is found too. Any
damage found, at open or later on a read, is a `StoreError` naming the file, the table
(and the row or pair) and what to do; the check only reads: nothing stored is changed or
lost by it (`python -m tradekit.bench.damage` measures what is found, and when).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import is_dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

from tradekit.core.events import OrderFilled
from tradekit.core.money import plain
from tradekit.core.orders import Order, OrderStatus
from tradekit.core.reports import PositionClosed, PositionOpened, StopMoved
from tradekit.store.codec import REGISTRY, decode, encode
from tradekit.store.integrity import (
    SEALED,
    checksum,
    journal_damage,
    reads,
    seal,
    snapshot_damage,
    verify,
)
from tradekit.store.schema import (
    APPLICATION_ID,
    KINDS,
    MIGRATIONS,
    REMEDY,
    SCHEMA_VERSION,
    StoreError,
    migrate,
    probe,
)

__all__ = [
    "APPLICATION_ID",
    "KINDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "JournalEntry",
    "Store",
    "StoreError",
]

_TERMINAL = tuple(s.value for s in OrderStatus if s.is_terminal)


class JournalEntry(NamedTuple):
    """One journal row with its payload decoded (a dataclass, or a dict for
    outcomes and notes)."""

    seq: int
    ts: int
    product_id: str | None
    kind: str
    type: str
    obj: Any


# -- helpers ---------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and type(value).__name__ in REGISTRY:
        return encode(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable ({value!r})")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# -- SQL -------------------------------------------------------------------------------

_INSERT_JOURNAL = (
    "INSERT INTO journal (ts, product_id, kind, type, payload, crc) VALUES (?, ?, ?, ?, ?, ?)"
)


def _journal_row(
    ts: int, pid: str | None, kind: str, type_name: str, payload: str
) -> tuple[Any, ...]:
    return (ts, pid, kind, type_name, payload, checksum(ts, pid, kind, type_name, payload))


_ORDER_COLUMNS = (
    "client_order_id",
    "product_id",
    "order_id",
    "side",
    "order_type",
    "status",
    "size",
    "limit_price",
    "stop_price",
    "filled_size",
    "filled_value",
    "fees",
    "triggered",
    "trade_ids",
    "reason",
    "created_ts",
    "updated_ts",
)
_UPSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}, crc) "
    f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))}, ?) "
    "ON CONFLICT (client_order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_ORDER_COLUMNS[1:], "crc"))
)
_INSERT_FILL = (
    "INSERT OR IGNORE INTO fills "
    "(client_order_id, trade_id, product_id, side, price, size, fee, ts, crc) "
    "VALUES (?, ?, ?, (SELECT side FROM orders WHERE client_order_id = ?), ?, ?, ?, ?, ?)"
)
_OPEN_POSITION = (
    "INSERT INTO positions (product_id, opened_ts, size, entry_price) VALUES (?, ?, ?, ?)"
)
_CLOSE_POSITION = (
    "UPDATE positions SET closed_ts = ?, size = ?, entry_price = ?, exit_price = ?, "
    "fees = ?, realized_pnl = ? WHERE product_id = ? AND closed_ts IS NULL"
)
_INSERT_CLOSED_POSITION = (
    "INSERT INTO positions (closed_ts, size, entry_price, exit_price, fees, realized_pnl, "
    "product_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STOP = (
    "INSERT INTO stop_history "
    "(position_id, product_id, ts, old_trigger, trigger, limit_price, price, highest) "
    "VALUES ((SELECT id FROM positions WHERE product_id = ? AND closed_ts IS NULL), "
    "?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_STATE = (
    "INSERT INTO engine_state (product_id, snapshot, cursor, updated_ts, crc) "
    "VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (product_id) DO UPDATE SET snapshot = excluded.snapshot, "
    "cursor = excluded.cursor, updated_ts = excluded.updated_ts, crc = excluded.crc"
)
_UPSERT_STATE_KEEP_CURSOR = (  # a new row starts at cursor 0; an old one keeps its cursor
    "INSERT INTO engine_state (product_id, snapshot, cursor, updated_ts, crc) "
    "VALUES (?, ?, 0, ?, ?) "
    "ON CONFLICT (product_id) DO UPDATE SET snapshot = excluded.snapshot, "
    "updated_ts = excluded.updated_ts, crc = excluded.crc"
)
_UPDATE_CURSOR = "UPDATE engine_state SET cursor = ?, updated_ts = ? WHERE product_id = ?"

_ORDER_DECIMALS = ("size", "limit_price", "stop_price", "filled_size", "filled_value", "fees")
_FILL_DECIMALS = ("price", "size", "fee")
_POSITION_DECIMALS = ("size", "entry_price", "exit_price", "fees", "realized_pnl")
_STOP_DECIMALS = ("old_trigger", "trigger", "limit_price", "price", "highest")


def _order_row(o: Order, ts: int) -> tuple[Any, ...]:
    row = _order_values(o, ts)
    return (*row, checksum(*(row[_ORDER_COLUMNS.index(c)] for c in SEALED["orders"])))


def _order_values(o: Order, ts: int) -> tuple[Any, ...]:
    return (
        o.client_order_id,
        o.product_id,
        o.order_id,
        o.side.value,
        o.order_type.value,
        o.status.value,
        plain(o.size),
        plain(o.limit_price),
        None if o.stop_price is None else plain(o.stop_price),
        plain(o.filled_size),
        plain(o.filled_value),
        plain(o.fees),
        1 if o.triggered else 0,
        json.dumps(sorted(o.trade_ids), separators=(",", ":")),
        o.reason,
        o.created_ts,
        ts,
    )


def _row_dict(row: sqlite3.Row, decimals: Iterable[str] = ()) -> dict[str, Any]:
    d = dict(row)
    for name in decimals:
        d[name] = _dec(d[name])
    return d


# -- the store -------------------------------------------------------------------------


class Store:
    """A tradekit store: one SQLite file in WAL mode. See the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durable: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self.durable = durable
        memory = self.path == ":memory:"
        if not memory:
            probe(Path(self.path), SCHEMA_VERSION)
        try:
            conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(self.path, f"cannot open ({e})") from e
        try:
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
            self.schema_version = migrate(conn, self.path)
            if not memory:
                verify(conn, self.path)
            # Only now (the file is known to be ours) switch it to WAL.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and not memory:
                raise StoreError(self.path, f"cannot use WAL mode (journal_mode is {mode})")
        except sqlite3.Error as e:
            conn.close()
            raise StoreError(self.path, f"cannot open as a tradekit store ({e})") from e
        except BaseException:
            conn.close()
            raise
        conn.row_factory = sqlite3.Row
        self._conn = conn

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, durable: bool = False, timeout: float = 5.0
    ) -> Store:
        """Create or open the store at `path` (same as `Store(path)`)."""
        return cls(path, durable=durable, timeout=timeout)

    def close(self) -> None:
        """Close the connection (idempotent). The WAL is checkpointed by SQLite."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r}, schema_version={self.schema_version})"

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE, commit on success, roll back on error."""
        conn = self._conn
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
        except sqlite3.Error as e:
            raise StoreError(self.path, f"{what} failed, nothing written ({e})") from e

    # -- writes ----------------------------------------------------------------------

    def record(
        self,
        product_id: str,
        *,
        event: Any = None,
        commands: Iterable[Any] = (),
        reports: Iterable[Any] = (),
        orders: Iterable[Order] = (),
        snapshot: Mapping[str, Any] | None = None,
        cursor: int | None = None,
        ts: int,
    ) -> int | None:
        """Write one engine step atomically; return the seq of its last journal row.

        Journals the event (kind 'event'), then each command ('command': the intent,
        committed before the driver sends it), then each report ('report'); upserts
        `orders`; books the fill of an `OrderFilled` event into `fills` (a repeated
        trade id is ignored); opens, closes and trails `positions` / `stop_history` from
        PositionOpened / PositionClosed / StopMoved reports; saves `snapshot` (and
        `cursor`) as the product's engine state. `cursor` without `snapshot` updates the
        cursor of the saved state (StoreError if there is none). All or nothing.
        """
        # Encode everything first: a bad object fails before the transaction opens.
        rows: list[tuple[Any, ...]] = []
        if event is not None:
            rows.append(
                _journal_row(ts, product_id, "event", type(event).__name__, _dumps(encode(event)))
            )
        rows.extend(
            _journal_row(ts, product_id, "command", type(c).__name__, _dumps(encode(c)))
            for c in commands
        )
        reports = tuple(reports)
        rows.extend(
            _journal_row(ts, product_id, "report", type(r).__name__, _dumps(encode(r)))
            for r in reports
        )
        order_rows = [_order_row(o, ts) for o in orders]
        snapshot_json = None if snapshot is None else _dumps(snapshot)

        seq: int | None = None
        with self._write("record") as conn:
            if rows:
                if len(rows) == 1:
                    conn.execute(_INSERT_JOURNAL, rows[0])
                else:
                    conn.executemany(_INSERT_JOURNAL, rows)
                seq = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            if order_rows:
                conn.executemany(_UPSERT_ORDER, order_rows)
            if isinstance(event, OrderFilled):
                fill = (
                    event.client_order_id,
                    event.trade_id,
                    product_id,
                    plain(event.price),
                    plain(event.size),
                    plain(event.fee),
                    event.ts,
                )
                conn.execute(
                    _INSERT_FILL, (*fill[:3], event.client_order_id, *fill[3:], checksum(*fill))
                )
            for report in reports:
                self._apply_report(conn, product_id, report)
            if snapshot_json is not None:
                crc = checksum(product_id, snapshot_json)
                if cursor is None:
                    conn.execute(_UPSERT_STATE_KEEP_CURSOR, (product_id, snapshot_json, ts, crc))
                else:
                    conn.execute(_UPSERT_STATE, (product_id, snapshot_json, cursor, ts, crc))
            elif cursor is not None:
                if conn.execute(_UPDATE_CURSOR, (cursor, ts, product_id)).rowcount == 0:
                    raise StoreError(
                        self.path, f"record: a cursor for {product_id} but no saved state"
                    )
        return seq

    @staticmethod
    def _apply_report(conn: sqlite3.Connection, product_id: str, r: Any) -> None:
        if isinstance(r, StopMoved):
            cur = conn.execute(
                _INSERT_STOP,
                (
                    product_id,
                    product_id,
                    r.ts,
                    None if r.old_trigger is None else plain(r.old_trigger),
                    plain(r.trigger),
                    plain(r.limit),
                    plain(r.price),
                    plain(r.highest),
                ),
            )
            seal(conn, "stop_history", "rowid = ?", (cur.lastrowid,))
        elif isinstance(r, PositionOpened):
            cur = conn.execute(_OPEN_POSITION, (product_id, r.ts, plain(r.size), plain(r.price)))
            seal(conn, "positions", "rowid = ?", (cur.lastrowid,))
        elif isinstance(r, PositionClosed):
            values = (
                r.ts,
                plain(r.size),
                plain(r.entry_price),
                plain(r.exit_price),
                plain(r.fees),
                plain(r.realized_pnl),
                product_id,
            )
            if conn.execute(_CLOSE_POSITION, values).rowcount == 0:
                # Closed with no open row (the store began mid-position): keep the result.
                conn.execute(_INSERT_CLOSED_POSITION, values)
            seal(conn, "positions", "id = (SELECT max(id) FROM positions WHERE product_id = ?)",
                  (product_id,))  # fmt: skip

    def record_outcome(
        self,
        product_id: str,
        command_or_coid: Any,
        outcome: Mapping[str, Any],
        ts: int,
    ) -> int:
        """Journal what became of a command (kind 'outcome'); return its seq.

        The payload is `{"client_order_id": ..., **outcome}`; the row's type is the
        command's class name, or "Command" when only a client order id is given.
        """
        if isinstance(command_or_coid, str):
            coid, type_name = command_or_coid, "Command"
        else:
            coid = command_or_coid.client_order_id
            type_name = type(command_or_coid).__name__
        if outcome.get("client_order_id", coid) != coid:
            raise ValueError(
                f"outcome names client_order_id {outcome['client_order_id']!r}, "
                f"the command {coid!r}"
            )
        payload = _dumps({"client_order_id": coid, **outcome})
        with self._write("record_outcome") as conn:
            cur = conn.execute(
                _INSERT_JOURNAL, _journal_row(ts, product_id, "outcome", type_name, payload)
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def note(
        self,
        product_id: str | None,
        text: str,
        ts: int,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Journal a free note (kind 'note', type 'Note', payload `{"text": ..., **data}`):
        a restart, a reconciliation finding, the kill switch... Returns its seq."""
        payload = _dumps({"text": text, **(data or {})})
        with self._write("note") as conn:
            cur = conn.execute(
                _INSERT_JOURNAL, _journal_row(ts, product_id, "note", "Note", payload)
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def meta_set(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"meta values are strings, got {type(value).__name__}")
        with self._write("meta_set") as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reads -----------------------------------------------------------------------

    @reads("meta")
    def meta_get(self, key: str, default: str | None = None) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    @reads("engine_state")
    def load_engine_state(self, product_id: str) -> tuple[dict[str, Any], int] | None:
        """(snapshot, cursor) saved for `product_id`, or None. The cursor is 0 until one
        is recorded. A snapshot that fails its checksum or is not JSON: StoreError."""
        row = self._conn.execute(
            "SELECT snapshot, cursor, crc FROM engine_state WHERE product_id = ?", (product_id,)
        ).fetchone()
        if row is None:
            return None
        why = snapshot_damage(product_id, row[0], row[2])
        if why is not None:
            raise StoreError(self.path, f"damaged: {why}; {REMEDY}")
        return json.loads(row[0]), int(row[1])

    @reads("engine_state")
    def products(self) -> list[str]:
        """Products with a saved engine state."""
        rows = self._conn.execute("SELECT product_id FROM engine_state ORDER BY product_id")
        return [r[0] for r in rows]

    @reads("journal")
    def journal(
        self,
        since_seq: int = 0,
        product_id: str | None = None,
        kinds: str | Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Journal rows with seq > `since_seq`, oldest first: dicts with seq, ts,
        product_id, kind, type and payload (the JSON payload as a dict), ready for
        `pandas.DataFrame(rows)` (or `pandas.json_normalize(rows)` to flatten payloads).
        """
        return [
            {
                "seq": seq,
                "ts": ts,
                "product_id": pid,
                "kind": kind,
                "type": type_name,
                "payload": json.loads(payload),
            }
            for seq, ts, pid, kind, type_name, payload in self._journal_rows(
                since_seq, product_id, kinds, limit
            )
        ]

    @reads("journal")
    def journal_objects(
        self,
        since_seq: int = 0,
        product_id: str | None = None,
        kinds: str | Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Like `journal`, with events, commands and reports decoded back into the core's
        dataclasses (outcomes and notes stay dicts)."""
        out = []
        for seq, ts, pid, kind, type_name, payload in self._journal_rows(
            since_seq, product_id, kinds, limit
        ):
            data = json.loads(payload)
            obj = decode(data) if kind in ("event", "command", "report") else data
            out.append(JournalEntry(seq, ts, pid, kind, type_name, obj))
        return out

    def _journal_rows(
        self,
        since_seq: int,
        product_id: str | None,
        kinds: str | Iterable[str] | None,
        limit: int | None,
    ) -> list[tuple[Any, ...]]:
        sql = "SELECT seq, ts, product_id, kind, type, payload, crc FROM journal WHERE seq > ?"
        params: list[Any] = [since_seq]
        if product_id is not None:
            sql += " AND product_id = ?"
            params.append(product_id)
        if kinds is not None:
            wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
            bad = [k for k in wanted if k not in KINDS]
            if bad:
                raise ValueError(f"unknown journal kind {bad[0]!r} (kinds: {', '.join(KINDS)})")
            sql += f" AND kind IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = []
        for r in self._conn.execute(sql, params):
            why = journal_damage(r)
            if why is not None:
                raise StoreError(self.path, f"damaged: {why}; {REMEDY}")
            rows.append(tuple(r)[:6])
        return rows

    @reads("orders")
    def orders(self, product_id: str | None = None) -> list[Order]:
        """Orders that may still rest on the exchange (status not terminal), as core
        `Order`s, oldest first: what a restart must look up."""
        sql = f"SELECT * FROM orders WHERE status NOT IN ({', '.join('?' * len(_TERMINAL))})"
        params: list[Any] = list(_TERMINAL)
        if product_id is not None:
            sql += " AND product_id = ?"
            params.append(product_id)
        sql += " ORDER BY created_ts, rowid"
        return [self._order(r) for r in self._conn.execute(sql, params)]

    @reads("orders")
    def order(self, client_order_id: str) -> Order | None:
        row = self._conn.execute(
            "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
        ).fetchone()
        return None if row is None else self._order(row)

    @staticmethod
    def _order(r: sqlite3.Row) -> Order:
        d = {key: r[key] for key in r.keys()}  # noqa: SIM118 - sqlite3.Row is not a dict
        d["trade_ids"] = json.loads(d["trade_ids"])
        return Order.from_dict(d)

    @reads("orders")
    def order_history(self, product_id: str | None = None) -> list[dict[str, Any]]:
        """Every order recorded, oldest first, as row dicts (Decimals for money)."""
        sql = "SELECT * FROM orders"
        params: tuple[Any, ...] = ()
        if product_id is not None:
            sql += " WHERE product_id = ?"
            params = (product_id,)
        sql += " ORDER BY created_ts, rowid"
        out = []
        for r in self._conn.execute(sql, params):
            d = _row_dict(r, _ORDER_DECIMALS)
            d["triggered"] = bool(d["triggered"])
            d["trade_ids"] = json.loads(d["trade_ids"])
            out.append(d)
        return out

    @reads("fills")
    def fills(
        self, product_id: str | None = None, client_order_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Fills booked from OrderFilled events, in order of booking."""
        sql = "SELECT * FROM fills WHERE 1"
        params: list[Any] = []
        if product_id is not None:
            sql += " AND product_id = ?"
            params.append(product_id)
        if client_order_id is not None:
            sql += " AND client_order_id = ?"
            params.append(client_order_id)
        sql += " ORDER BY id"
        return [_row_dict(r, _FILL_DECIMALS) for r in self._conn.execute(sql, params)]

    @reads("positions")
    def _positions(self, where: str, product_id: str | None) -> list[dict[str, Any]]:
        sql = f"SELECT * FROM positions WHERE {where}"
        params: tuple[Any, ...] = ()
        if product_id is not None:
            sql += " AND product_id = ?"
            params = (product_id,)
        sql += " ORDER BY id"
        return [_row_dict(r, _POSITION_DECIMALS) for r in self._conn.execute(sql, params)]

    def open_positions(self, product_id: str | None = None) -> list[dict[str, Any]]:
        """Positions not yet closed (size and entry price are those of the first fill)."""
        return self._positions("closed_ts IS NULL", product_id)

    def closed_positions(self, product_id: str | None = None) -> list[dict[str, Any]]:
        return self._positions("closed_ts IS NOT NULL", product_id)

    def total_realized_pnl(self, product_id: str | None = None) -> Decimal:
        """Sum of the closed positions' realized P&L (fees included), exact."""
        return sum(
            (p["realized_pnl"] for p in self.closed_positions(product_id)),
            start=Decimal(0),
        )

    @reads("stop_history")
    def stop_history(self, product_id: str | None = None) -> list[dict[str, Any]]:
        """Every stop move, oldest first, with the position it belonged to."""
        sql = "SELECT * FROM stop_history"
        params: tuple[Any, ...] = ()
        if product_id is not None:
            sql += " WHERE product_id = ?"
            params = (product_id,)
        sql += " ORDER BY id"
        return [_row_dict(r, _STOP_DECIMALS) for r in self._conn.execute(sql, params)]
