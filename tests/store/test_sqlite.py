import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradekit.core import (
    CancelOrder,
    DecisionEngine,
    EntryPlaced,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderFilled,
    OrderStatus,
    OrderStatusReport,
    PairParams,
    PlaceLimitBuy,
    PlaceStopLimitSell,
    PositionClosed,
    PositionOpened,
    ProductSpec,
    StopMoved,
    Timer,
    TrailParams,
)
from tradekit.store import JournalEntry, Store, StoreError, decode, encode
from tradekit.store import schema as store_schema
from tradekit.store.sqlite import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

PID = "BTC-USD"
BTC = ProductSpec(PID, D("0.00000001"), D("0.01"), D("0.00000001"))


def make_engine() -> DecisionEngine:
    trail = TrailParams(D("0.02"), D("0.005"), D("0"))
    params = PairParams(BTC, trail, max_entry_wait_ns=60 * 10**9, size=D("0.01"))
    return DecisionEngine(params, FixedOffsetEntry(D("0.001")), "t")


class Driver:
    """A minimal driver: handle, then record the whole step (what an engine does)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = make_engine()
        self.recorded: list[object] = []  # every event, command, report, in journal order
        self.reports: list[object] = []

    def step(self, event, cursor=None):
        commands = self.engine.handle(event)
        reports = self.engine.take_reports()
        self.store.record(
            PID,
            event=event,
            commands=commands,
            reports=reports,
            orders=list(self.engine.orders.values()),
            snapshot=self.engine.snapshot(),
            cursor=cursor,
            ts=event.ts,
        )
        self.recorded += [event, *commands, *reports]
        self.reports += reports
        return commands


def full_cycle(driver: Driver) -> None:
    """Entry, fill, first stop, a ratchet (cancel then place), the stop fills: closed."""
    d = driver
    assert d.step(MarketTrade(PID, D("100000"), D("0.1"), 1), cursor=1) == [
        PlaceLimitBuy("t-1", PID, D("0.01"), D("99900.00"), 1)
    ]
    d.step(OrderAccepted("t-1", "ex-1", 2))
    [stop] = d.step(OrderFilled("t-1", "tr-1", D("99900.00"), D("0.01"), D("0.5"), 3))
    assert isinstance(stop, PlaceStopLimitSell)
    d.step(OrderAccepted("t-2", "ex-2", 4))
    [cancel] = d.step(MarketTrade(PID, D("110000"), D("0.1"), 5), cursor=2)
    assert isinstance(cancel, CancelOrder) and cancel.then is not None
    d.step(OrderStatusReport("t-2", OrderStatus.CANCELLED, 6))
    d.step(OrderAccepted("t-3", "ex-3", 7))
    d.step(OrderFilled("t-3", "tr-2", D("107700.00"), D("0.01"), D("0.5"), 8))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count(store: Store, table: str) -> int:
    return store._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tradekit.sqlite"


@pytest.fixture
def store(path: Path):
    with Store.open(path) as s:
        yield s


# -- opening ---------------------------------------------------------------------------


def test_new_store_is_wal_versioned_and_marked(path: Path):
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 2
        conn = s._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()
    header = path.read_bytes()[:100]
    assert header[18:20] == b"\x02\x02"  # file format: WAL


def test_durable_sets_synchronous_full(path: Path):
    with Store(path, durable=True) as s:
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_reopen_keeps_data(path: Path):
    with Store(path) as s:
        s.meta_set("run_id", "run-1")
    with Store(path) as s:
        assert s.meta_get("run_id") == "run-1"
        assert s.meta_get("missing") is None
        assert s.meta_get("missing", "x") == "x"
        s.meta_set("run_id", "run-2")
        assert s.meta_get("run_id") == "run-2"


def test_empty_file_becomes_a_store(path: Path):
    path.write_bytes(b"")
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION


def test_missing_directory_is_a_store_error(tmp_path: Path):
    with pytest.raises(StoreError) as err:
        Store(tmp_path / "no" / "such" / "dir.sqlite")
    assert str(tmp_path) in str(err.value)


def test_directory_is_refused(tmp_path: Path):
    with pytest.raises(StoreError, match="not a regular file"):
        Store(tmp_path)


def test_memory_store_works():
    with Store(":memory:") as s:
        s.note(None, "hello", 1)
        assert s.journal()[0]["payload"] == {"text": "hello"}


def _refused_untouched(path: Path, *needles: str) -> StoreError:
    before = sha(path)
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(StoreError) as err:
        Store(path)
    assert sha(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == siblings  # no side files
    assert err.value.path == str(path)
    assert str(path) in str(err.value)
    for needle in needles:
        assert needle in str(err.value)
    return err.value


def test_newer_schema_is_refused_and_left_untouched(path: Path):
    with Store(path) as s:
        s.meta_set("k", "v")
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.commit()
    raw.close()
    _refused_untouched(path, "99", str(SCHEMA_VERSION), "newer")


def test_foreign_sqlite_file_is_refused_and_left_untouched(path: Path):
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    raw.execute("INSERT INTO customers (name) VALUES ('ada')")
    raw.commit()
    raw.close()
    _refused_untouched(path, "not a tradekit store")


def test_foreign_application_id_is_refused_even_without_tables(path: Path):
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA application_id = 0x0f055112")
    raw.commit()
    raw.close()
    _refused_untouched(path, "not a tradekit store", "0xf055112")


def test_foreign_wal_database_is_refused(path: Path):
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("CREATE TABLE t (x)")
    raw.commit()
    raw.close()
    _refused_untouched(path, "not a tradekit store")


def test_random_bytes_are_refused_and_left_untouched(path: Path):
    path.write_bytes(os.urandom(8192))
    _refused_untouched(path, "not a SQLite database")


def test_text_file_is_refused(path: Path):
    path.write_text("run_id,price\n1,100\n")
    _refused_untouched(path, "not a SQLite database")


def _store_with_data(path: Path) -> bytes:
    with Store(path) as s:
        full_cycle(Driver(s))
        for i in range(200):
            s.note(PID, "padding " * 50, i)
    return path.read_bytes()


@pytest.mark.parametrize("cut", ["odd", "pages", "header_only"])
def test_truncated_store_is_refused_and_left_untouched(path: Path, cut: str):
    data = _store_with_data(path)
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 4 * page
    keep = {"odd": len(data) // 2 + 7, "pages": 2 * page, "header_only": 60}[cut]
    path.write_bytes(data[:keep])
    _refused_untouched(path)


def test_corrupt_first_page_is_refused_and_left_untouched(path: Path):
    data = _store_with_data(path)
    page = int.from_bytes(data[16:18], "big")
    path.write_bytes(data[:100] + os.urandom(page - 100) + data[page:])
    _refused_untouched(path)


# -- migrations ------------------------------------------------------------------------


def test_v1_store_is_upgraded_in_place_keeping_rows(path: Path):
    raw = sqlite3.connect(path, isolation_level=None)
    assert store_schema.migrate(raw, str(path), target=1) == 1
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    columns = [r[1] for r in raw.execute("PRAGMA table_info(orders)")]
    assert "reason" not in columns
    raw.execute(
        "INSERT INTO orders (client_order_id, product_id, order_id, side, order_type, status,"
        " size, limit_price, stop_price, filled_size, filled_value, fees, triggered,"
        " trade_ids, created_ts, updated_ts) VALUES ('t-1', 'BTC-USD', 'ex-1', 'BUY', 'LIMIT',"
        " 'OPEN', '0.01', '99900.00', NULL, '0', '0', '0', 0, '[]', 1, 2)"
    )
    payload = json.dumps(encode(Timer(5)))
    raw.execute(
        "INSERT INTO journal (ts, product_id, kind, type, payload) VALUES (5, 'BTC-USD',"
        " 'event', 'Timer', ?)",
        (payload,),
    )
    raw.execute(
        "INSERT INTO engine_state (product_id, snapshot, cursor, updated_ts) "
        "VALUES ('BTC-USD', '{\"a\":1}', 7, 5)"
    )
    raw.close()

    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        [order] = s.orders()
        assert order.client_order_id == "t-1" and order.reason == ""
        assert order.limit_price == D("99900.00") and order.status is OrderStatus.OPEN
        assert [e.obj for e in s.journal_objects()] == [Timer(5)]
        assert s.load_engine_state("BTC-USD") == ({"a": 1}, 7)
        indexes = {r[0] for r in s._conn.execute("SELECT name FROM sqlite_master")}
        assert {"journal_product", "fills_product"} <= indexes
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


def test_failed_migration_changes_nothing(path: Path):
    Store(path).close()
    broken = (*MIGRATIONS, "CREATE TABLE extra (x);\nINSERT INTO no_such_table VALUES (1);\n")
    raw = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        store_schema.migrate(raw, str(path), broken)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "extra" not in names
    raw.close()


def test_migration_scripts_split_into_statements():
    statements = store_schema.statements(MIGRATIONS[0])
    assert all(sqlite3.complete_statement(s) for s in statements)
    assert sum(s.startswith("CREATE TABLE") for s in statements) == 7


# -- record ----------------------------------------------------------------------------


def test_record_writes_every_piece(store: Store):
    engine = make_engine()
    trade = MarketTrade(PID, D("100000"), D("0.1"), 1)
    commands = engine.handle(trade)
    reports = engine.take_reports()
    seq = store.record(
        PID,
        event=trade,
        commands=commands,
        reports=reports,
        orders=engine.orders.values(),
        snapshot=engine.snapshot(),
        cursor=1,
        ts=10,
    )
    rows = store.journal()
    assert seq == rows[-1]["seq"] == 3
    assert [(r["kind"], r["type"]) for r in rows] == [
        ("event", "MarketTrade"),
        ("command", "PlaceLimitBuy"),
        ("report", "EntryPlaced"),
    ]
    assert all(r["ts"] == 10 and r["product_id"] == PID for r in rows)
    assert rows[1]["payload"] == encode(commands[0])
    assert [o.client_order_id for o in store.orders(PID)] == ["t-1"]
    assert store.load_engine_state(PID) == (engine.snapshot(), 1)
    assert store.products() == [PID]


def test_record_is_one_transaction_trigger_fails_last_write(store: Store):
    driver = Driver(store)
    driver.step(MarketTrade(PID, D("100000"), D("0.1"), 1), cursor=1)
    driver.step(OrderAccepted("t-1", "ex-1", 2))
    before = {t: count(store, t) for t in ("journal", "orders", "fills", "positions")}
    state_before = store.load_engine_state(PID)
    # positions is written late in record() (after journal, orders, fills): fail there
    store._conn.execute(
        "CREATE TEMP TRIGGER boom BEFORE INSERT ON positions BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    with pytest.raises(StoreError, match="boom"):
        driver.step(OrderFilled("t-1", "tr-1", D("99900.00"), D("0.01"), D("0.5"), 3))
    assert {t: count(store, t) for t in before} == before
    assert store.fills() == [] and store.open_positions() == []
    assert store.order("t-1").status is OrderStatus.OPEN  # the upsert was rolled back
    assert store.load_engine_state(PID) == state_before
    with Store(store.path) as other:  # another connection sees nothing either
        assert len(other.journal()) == before["journal"]
    # the store is still usable
    store._conn.execute("DROP TRIGGER boom")
    fill = OrderFilled("t-1", "tr-1", D("99900.00"), D("0.01"), D("0.5"), 3)
    store.record(PID, event=fill, ts=3)
    assert len(store.fills()) == 1


def test_record_is_one_transaction_python_failure_mid_way(store: Store, monkeypatch):
    driver = Driver(store)
    driver.step(MarketTrade(PID, D("100000"), D("0.1"), 1))
    driver.step(OrderAccepted("t-1", "ex-1", 2))
    before = {t: count(store, t) for t in ("journal", "orders", "fills", "positions")}

    def explode(conn, product_id, report):
        # by now the journal rows, the orders and the fill are inserted
        assert conn.in_transaction
        raise RuntimeError("crash in the middle of record()")

    monkeypatch.setattr(Store, "_apply_report", staticmethod(explode))
    with pytest.raises(RuntimeError, match="middle"):
        driver.step(OrderFilled("t-1", "tr-1", D("99900.00"), D("0.01"), D("0.5"), 3))
    assert not store._conn.in_transaction
    assert {t: count(store, t) for t in before} == before


def test_bad_object_fails_before_anything_is_written(store: Store):
    with pytest.raises(ValueError, match="price"):
        store.record(
            PID,
            event=Timer(1),
            commands=[PlaceLimitBuy("t-1", PID, D("1"), 1.5, 1)],  # type: ignore[arg-type]
            ts=1,
        )
    assert store.journal() == []


def test_cursor_without_state_is_refused_atomically(store: Store):
    with pytest.raises(StoreError, match="no saved state"):
        store.record(PID, event=Timer(1), cursor=4, ts=1)
    assert store.journal() == []
    store.record(PID, snapshot={"s": 1}, ts=1)
    assert store.load_engine_state(PID) == ({"s": 1}, 0)
    store.record(PID, cursor=4, ts=2)
    assert store.load_engine_state(PID) == ({"s": 1}, 4)
    store.record(PID, snapshot={"s": 2}, ts=3)  # keeps the cursor
    assert store.load_engine_state(PID) == ({"s": 2}, 4)
    assert store.record(PID, snapshot={"s": 3}, cursor=9, ts=4) is None  # nothing journaled
    assert store.load_engine_state(PID) == ({"s": 3}, 9)


def test_engine_state_round_trip_with_a_real_engine(store: Store):
    engine = make_engine()
    [buy] = engine.handle(MarketTrade(PID, D("100000"), D("0.1"), 1))
    assert isinstance(buy, PlaceLimitBuy)
    snap = engine.snapshot()
    store.record(PID, commands=[buy], orders=engine.orders.values(), snapshot=snap, cursor=1, ts=1)
    loaded = store.load_engine_state(PID)
    assert loaded is not None
    state, cursor = loaded
    assert cursor == 1
    assert state == snap
    restored = DecisionEngine.restore(engine.params, FixedOffsetEntry(D("0.001")), state)
    assert restored.snapshot() == snap
    assert store.load_engine_state("ETH-USD") is None


def test_full_cycle_books_positions_stops_fills_and_orders(store: Store):
    driver = Driver(store)
    full_cycle(driver)
    closed_report = next(r for r in driver.reports if isinstance(r, PositionClosed))
    opened_report = next(r for r in driver.reports if isinstance(r, PositionOpened))
    moves = [r for r in driver.reports if isinstance(r, StopMoved)]

    assert store.open_positions() == []
    [pos] = store.closed_positions(PID)
    assert pos["opened_ts"] == opened_report.ts and pos["closed_ts"] == closed_report.ts
    assert pos["size"] == closed_report.size
    assert pos["entry_price"] == D("99900.00") and pos["exit_price"] == D("107700.00")
    assert pos["fees"] == D("1.0")
    assert pos["realized_pnl"] == closed_report.realized_pnl == D("77.0000")
    assert store.total_realized_pnl() == store.total_realized_pnl(PID) == D("77.0000")
    assert store.total_realized_pnl("ETH-USD") == D(0)

    history = store.stop_history(PID)
    assert [(h["old_trigger"], h["trigger"], h["limit_price"]) for h in history] == [
        (m.old_trigger, m.trigger, m.limit) for m in moves
    ]
    assert history[0]["old_trigger"] is None and history[1]["old_trigger"] == D("97902.00")
    assert {h["position_id"] for h in history} == {pos["id"]}
    assert history[1]["price"] == D("110000") and history[1]["highest"] == D("110000")

    fills = store.fills(PID)
    assert [(f["trade_id"], f["side"], f["price"], f["fee"]) for f in fills] == [
        ("tr-1", "BUY", D("99900.00"), D("0.5")),
        ("tr-2", "SELL", D("107700.00"), D("0.5")),
    ]
    assert store.fills(client_order_id="t-3")[0]["size"] == D("0.01")

    assert store.orders() == []  # nothing may rest any more
    history_rows = store.order_history(PID)
    assert [(o["client_order_id"], o["status"]) for o in history_rows] == [
        ("t-1", "FILLED"),
        ("t-2", "CANCELLED"),
        ("t-3", "FILLED"),
    ]
    assert history_rows[2]["triggered"] is True and history_rows[2]["trade_ids"] == ["tr-2"]
    assert history_rows[2]["stop_price"] == D("107800.00")
    stop = store.order("t-3")
    assert stop is not None and stop.to_dict() == driver.engine.orders["t-3"].to_dict()

    # the journal decodes back to exactly what was recorded, in order
    entries = store.journal_objects(product_id=PID)
    assert [e.obj for e in entries] == driver.recorded
    assert all(isinstance(e, JournalEntry) for e in entries)
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert store.load_engine_state(PID) == (driver.engine.snapshot(), 2)


def test_repeated_fill_is_booked_once(store: Store):
    fill = OrderFilled("t-1", "tr-1", D("1.5"), D("2"), D("0.01"), 3)
    store.record(PID, event=fill, ts=3)
    store.record(PID, event=fill, ts=4)
    assert len(store.fills()) == 1
    assert store.fills()[0]["side"] is None  # the order was never recorded
    assert len(store.journal(kinds="event")) == 2  # the journal keeps both reports


def test_close_without_open_row_is_kept(store: Store):
    closed = PositionClosed(PID, D("1"), D("10"), D("11"), D("0.1"), D("0.9"), 5)
    store.record(PID, reports=[closed], ts=5)
    [pos] = store.closed_positions()
    assert pos["opened_ts"] is None and pos["realized_pnl"] == D("0.9")


def test_total_realized_pnl_is_exact_decimal(store: Store):
    for i, pnl in enumerate(["0.1", "0.2", "-0.00000001"]):
        store.record(PID, reports=[PositionOpened(PID, D("1"), D("10"), 2 * i)], ts=2 * i)
        closed = PositionClosed(PID, D("1"), D("10"), D("11"), D("0"), D(pnl), 2 * i + 1)
        store.record(PID, reports=[closed], ts=2 * i + 1)
    total = store.total_realized_pnl()
    assert total == D("0.29999999") and type(total) is D
    assert len(store.closed_positions()) == 3


def test_second_open_position_for_a_product_is_refused(store: Store):
    store.record(PID, reports=[PositionOpened(PID, D("1"), D("10"), 1)], ts=1)
    with pytest.raises(StoreError):
        store.record(PID, event=Timer(2), reports=[PositionOpened(PID, D("1"), D("10"), 2)], ts=2)
    assert len(store.open_positions()) == 1
    assert store.journal(kinds=["event"]) == []
    other = PositionOpened("ETH-USD", D("1"), D("10"), 3)
    store.record("ETH-USD", reports=[other], ts=3)
    assert len(store.open_positions()) == 2 and len(store.open_positions("ETH-USD")) == 1


# -- journal, outcomes, notes ----------------------------------------------------------


def test_outcomes_and_notes(store: Store):
    buy = PlaceLimitBuy("t-1", PID, D("0.01"), D("99900.00"), 1)
    store.record(PID, commands=[buy], ts=1)
    seq = store.record_outcome(PID, buy, {"success": True, "order_id": "ex-1"}, 2)
    seq2 = store.record_outcome(PID, "t-9", {"error": "timeout", "price": D("1.10")}, ts=3)
    note = store.note(PID, "restarted", 4, {"orphans": 0})
    glob = store.note(None, "kill switch", 5)
    assert seq < seq2 < note < glob
    rows = store.journal(since_seq=1)
    assert [(r["kind"], r["type"], r["product_id"]) for r in rows] == [
        ("outcome", "PlaceLimitBuy", PID),
        ("outcome", "Command", PID),
        ("note", "Note", PID),
        ("note", "Note", None),
    ]
    assert rows[0]["payload"] == {"client_order_id": "t-1", "success": True, "order_id": "ex-1"}
    assert rows[1]["payload"]["price"] == "1.10"
    assert rows[2]["payload"] == {"text": "restarted", "orphans": 0}
    objs = store.journal_objects(kinds=("command", "outcome"))
    assert objs[0].obj == buy and objs[1].obj["order_id"] == "ex-1"
    with pytest.raises(ValueError, match="client_order_id"):
        store.record_outcome(PID, buy, {"client_order_id": "t-2"}, 9)


def test_journal_filters(store: Store):
    store.record(PID, event=Timer(1), ts=1)
    store.record("ETH-USD", event=Timer(2), ts=2)
    store.note(PID, "n", 3)
    assert [r["seq"] for r in store.journal()] == [1, 2, 3]
    assert [r["seq"] for r in store.journal(since_seq=1)] == [2, 3]
    assert [r["seq"] for r in store.journal(product_id=PID)] == [1, 3]
    assert [r["seq"] for r in store.journal(kinds="note")] == [3]
    assert [r["seq"] for r in store.journal(kinds=["event", "note"], limit=2)] == [1, 2]
    assert set(store.journal()[0]) == {"seq", "ts", "product_id", "kind", "type", "payload"}
    with pytest.raises(ValueError, match="unknown journal kind"):
        store.journal(kinds="events")


def test_journal_payload_is_compact_json_of_the_codec(store: Store):
    fill = OrderFilled("t-1", "tr-1", D("99900.00"), D("0.01"), D("0.5"), 3)
    store.record(PID, event=fill, ts=3)
    raw = store._conn.execute("SELECT payload FROM journal").fetchone()[0]
    assert raw == json.dumps(encode(fill), separators=(",", ":"))
    assert decode(json.loads(raw)) == fill


# -- processes and threads -------------------------------------------------------------

_CRASHER = """
import os, signal, sys
from decimal import Decimal as D
from tradekit.core import MarketTrade, PlaceLimitBuy
from tradekit.store import Store
s = Store(sys.argv[1])
for i in range(50):
    s.record("BTC-USD", event=MarketTrade("BTC-USD", D("100"), D("1"), i),
             commands=[PlaceLimitBuy(f"t-{i}", "BTC-USD", D("1"), D("99.90"), i)],
             snapshot={"seq": i}, cursor=i, ts=i)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_committed_records_survive_a_killed_process(path: Path):
    proc = subprocess.run([sys.executable, "-c", _CRASHER, str(path)], check=False)
    assert proc.returncode == -9
    assert Path(f"{path}-wal").exists()  # never checkpointed: recovery reads the WAL
    with Store(path) as s:
        assert len(s.journal(kinds="command")) == 50
        assert s.load_engine_state(PID) == ({"seq": 49}, 49)


def test_a_store_belongs_to_its_thread(store: Store):
    errors: list[BaseException] = []

    def use() -> None:
        try:
            store.journal()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)


def test_two_stores_share_the_file(path: Path):
    with Store(path) as writer, Store(path) as reader:
        writer.record(PID, event=Timer(1), ts=1)
        assert len(reader.journal()) == 1
        reader.record(PID, event=Timer(2), ts=2)
        assert [r["ts"] for r in writer.journal()] == [1, 2]


def test_entry_placed_report_is_journaled_not_tabled(store: Store):
    report = EntryPlaced(PID, "t-1", D("0.01"), D("99900.00"), D("100000"), 1)
    store.record(PID, reports=[report], ts=1)
    assert store.journal_objects()[0].obj == report
    assert store.open_positions() == [] and store.stop_history() == []


def test_a_bit_flipped_deep_in_the_file_is_refused_and_left_untouched(path: Path):
    """The header, the page count and the identity are fine; one b-tree page is not."""
    data = bytearray(_store_with_data(path))
    page = int.from_bytes(data[16:18], "big")

    # the fullest b-tree leaf page (type 13: a table leaf) of the file
    def cells(n: int) -> int:
        return int.from_bytes(data[n * page + 3 : n * page + 5], "big")

    leaf = max((n for n in range(1, len(data) // page) if data[n * page] == 13), key=cells)
    start = leaf * page
    assert cells(leaf) > 1
    for i in range(8, 8 + 2 * cells(leaf)):  # its cell pointers, scrambled
        data[start + i] ^= 0x5A
    path.write_bytes(bytes(data))
    _refused_untouched(path, "damaged")
