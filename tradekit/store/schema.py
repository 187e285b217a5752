"""What a tradekit store file is, and how a file becomes one.

A SQLite database marked with `APPLICATION_ID`, at schema version `SCHEMA_VERSION`
(`PRAGMA user_version`), reached by `MIGRATIONS` run in order, each in one transaction.
`probe` refuses anything else before a read-write open (another application's database,
a truncated or damaged file, a store from a newer tradekit), naming what is wrong.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "APPLICATION_ID",
    "KINDS",
    "MIGRATIONS",
    "REMEDY",
    "SCHEMA_VERSION",
    "StoreError",
    "migrate",
    "probe",
]

APPLICATION_ID = 0x54524B54  # "TRKT": PRAGMA application_id of every tradekit store
"""Marks a SQLite file as a tradekit store (bytes 68-71 of the header)."""

KINDS = ("event", "command", "report", "outcome", "note")

# Each step is a SQL script run, statement by statement, inside the same transaction that
# sets `PRAGMA user_version` to its number: a failed step leaves the file as it was.
# Append new steps; never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    # v1: the initial schema
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE engine_state (
        product_id TEXT PRIMARY KEY,
        snapshot   TEXT NOT NULL,      -- DecisionEngine.snapshot() as JSON
        cursor     INTEGER NOT NULL DEFAULT 0,  -- index/ts of the last market event done
        updated_ts INTEGER NOT NULL
    );
    CREATE TABLE journal (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        ts         INTEGER NOT NULL,   -- ns since the epoch, UTC
        product_id TEXT,
        kind       TEXT NOT NULL
                   CHECK (kind IN ('event', 'command', 'report', 'outcome', 'note')),
        type       TEXT NOT NULL,      -- class name (event/command/report)
        payload    TEXT NOT NULL       -- JSON (tradekit.store.codec for dataclasses)
    );
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        product_id   TEXT NOT NULL,
        order_id     TEXT,
        side         TEXT NOT NULL,
        order_type   TEXT NOT NULL,
        status       TEXT NOT NULL,
        size         TEXT NOT NULL,
        limit_price  TEXT NOT NULL,
        stop_price   TEXT,
        filled_size  TEXT NOT NULL,
        filled_value TEXT NOT NULL,
        fees         TEXT NOT NULL,
        triggered    INTEGER NOT NULL,
        trade_ids    TEXT NOT NULL,    -- JSON list of the exchange's trade ids
        created_ts   INTEGER NOT NULL,
        updated_ts   INTEGER NOT NULL
    );
    CREATE INDEX orders_product ON orders (product_id, created_ts);
    CREATE TABLE fills (
        id              INTEGER PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        trade_id        TEXT NOT NULL,
        product_id      TEXT NOT NULL,
        side            TEXT,
        price           TEXT NOT NULL,
        size            TEXT NOT NULL,
        fee             TEXT NOT NULL,
        ts              INTEGER NOT NULL,
        UNIQUE (client_order_id, trade_id)
    );
    CREATE TABLE positions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        product_id   TEXT NOT NULL,
        opened_ts    INTEGER,
        closed_ts    INTEGER,          -- NULL while open
        size         TEXT NOT NULL,
        entry_price  TEXT NOT NULL,
        exit_price   TEXT,
        fees         TEXT,
        realized_pnl TEXT
    );
    CREATE UNIQUE INDEX positions_one_open ON positions (product_id) WHERE closed_ts IS NULL;
    CREATE TABLE stop_history (
        id          INTEGER PRIMARY KEY,
        position_id INTEGER REFERENCES positions (id),
        product_id  TEXT NOT NULL,
        ts          INTEGER NOT NULL,
        old_trigger TEXT,
        trigger     TEXT NOT NULL,
        limit_price TEXT NOT NULL,
        price       TEXT NOT NULL,
        highest     TEXT NOT NULL
    );
    CREATE INDEX stop_history_product ON stop_history (product_id, ts);
    """,
    # v2: keep the order's last rejection / cancel-refusal reason; index journal reads
    # by product and fills by product.
    """
    ALTER TABLE orders ADD COLUMN reason TEXT NOT NULL DEFAULT '';
    CREATE INDEX journal_product ON journal (product_id, seq);
    CREATE INDEX fills_product ON fills (product_id, ts);
    """,
    # v3: a checksum (CRC-32, see `crc`) on every journal row and engine snapshot, so
    # that damage SQLite cannot see (a digit changed in a row it still reads) is found.
    # Rows written before stay NULL: not checked.
    """
    ALTER TABLE journal ADD COLUMN crc INTEGER;
    ALTER TABLE engine_state ADD COLUMN crc INTEGER;
    ALTER TABLE orders ADD COLUMN crc INTEGER;
    ALTER TABLE fills ADD COLUMN crc INTEGER;
    ALTER TABLE positions ADD COLUMN crc INTEGER;
    ALTER TABLE stop_history ADD COLUMN crc INTEGER;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

SQLITE_MAGIC = b"SQLite format 3\x00"
# What to do about a damaged store: said by every damage error.
REMEDY = (
    "the file is left as it is: restore it from a backup, or start a new run on another "
    "store (the exchange still holds this run's orders and stops: look them up there)"
)


class StoreError(Exception):
    """The store cannot be opened or written; `path` is the file concerned."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        super().__init__(f"{os.fspath(path)}: {message}")
        self.path = os.fspath(path)


def statements(script: str) -> list[str]:
    """Split a SQL script into statements (sqlite3.complete_statement knows the syntax)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf.strip()!r}")
    return out


def store_identity(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of schema objects) of an open database."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    return int(app_id), int(version), int(objects)


def check_identity(path: str, app_id: int, version: int, objects: int, known: int) -> None:
    """Refuse anything but an empty database or a tradekit store this code can read."""
    if app_id == APPLICATION_ID:
        if version > known:
            raise StoreError(
                path,
                f"the store's schema version is {version}, newer than version {known} "
                f"that this tradekit knows; upgrade tradekit to open it (file left untouched)",
            )
        return
    if app_id == 0 and version == 0 and objects == 0:
        return  # an empty database: it becomes a store
    raise StoreError(
        path,
        f"not a tradekit store (application_id {app_id:#x}, expected {APPLICATION_ID:#x}; "
        f"schema objects: {objects}, user_version {version}): another application's "
        f"database? Refusing to touch it",
    )


def probe(path: Path, known: int) -> None:
    """Check an existing file before any read-write open, without modifying it.

    A non-SQLite or visibly truncated file, another application's database, or a store
    from a newer schema raises StoreError. The file is opened read-only (and
    `immutable` when there is no WAL to honour, so no side files are created).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if not path.is_file():
        raise StoreError(path, "not a regular file")
    if st.st_size == 0:
        return  # SQLite treats an empty file as a new database
    with path.open("rb") as f:
        header = f.read(100)
    if header.startswith(SQLITE_MAGIC) and len(header) < 100:
        raise StoreError(path, f"truncated: {len(header)} bytes, less than a SQLite header")
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreError(path, "not a SQLite database (no SQLite header): refusing to touch it")
    page_size = int.from_bytes(header[16:18], "big")
    if page_size == 1:
        page_size = 65536
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreError(path, f"corrupt SQLite header (page size {page_size})")
    if st.st_size % page_size:
        raise StoreError(
            path, f"corrupt or truncated: {st.st_size} bytes is not a whole number of pages"
        )
    wal = Path(f"{path}-wal")
    has_wal = wal.exists()
    pages = int.from_bytes(header[28:32], "big")
    if not has_wal and header[24:28] == header[92:96] and pages * page_size > st.st_size:
        raise StoreError(
            path,
            f"truncated: the header counts {pages} pages of {page_size} bytes, "
            f"the file holds {st.st_size} bytes",
        )
    uri = path.resolve().as_uri() + ("?mode=ro" if has_wal else "?mode=ro&immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            identity = store_identity(conn)
            # A bit flipped on disk passes every check above: SQLite's integrity check
            # reads every page and checks every index against its table (quick_check
            # does not: a damaged index then fails later, on a read), naming what is
            # damaged.
            damage = [r[0] for r in conn.execute("PRAGMA integrity_check(5)").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StoreError(path, f"cannot read it as a SQLite database ({e})") from e
    check_identity(str(path), *identity, known=known)
    if damage != ["ok"]:
        raise StoreError(
            path,
            "damaged (SQLite's integrity check: " + "; ".join(damage)[:300] + "): " + REMEDY,
        )


def migrate(
    conn: sqlite3.Connection,
    path: str,
    migrations: Sequence[str] = MIGRATIONS,
    target: int | None = None,
) -> int:
    """Bring the database to `target` (default: the latest) in one transaction.

    Identity and version are checked again under the write lock. Returns the version.
    """
    known = len(migrations)
    target = known if target is None else target
    if not 0 < target <= known:
        raise ValueError(f"no schema version {target} (known: 1..{known})")
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        app_id, version, objects = store_identity(conn)
        check_identity(path, app_id, version, objects, known=known)
        if version >= target:
            return version
        for step in migrations[version:target]:
            for statement in statements(step):
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {int(target)}")
    return target
