"""Stores checked for real: damage made on disk, as a disk or a copy makes it, is found
when the store opens (or on a read), named (file, table, row or pair, what to do), and
the check changes nothing in the file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tradekit.bench import damage
from tradekit.store.sqlite import REMEDY, Store, StoreError


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("damage") / "base.sqlite"
    damage.make_store(path, ticks=3000)
    return path


def test_the_matrix_finds_every_kind_of_damage_and_changes_nothing():
    rows = damage.matrix(trials=6, seed=3)
    assert [r["damage"] for r in rows] == list(damage.KINDS)
    for r in rows:
        assert r["tried"] >= 3, r  # the kind could be made on this store
        assert r["silent"] == r["raw"] == r["changed_by_check"] == 0, r
        if r["damage"] != "page-bit-flip":  # a random bit may land in free space
            assert r["at_open"] + r["later"] == r["tried"], r


def digit_changed(path: Path, sql: str, tail_sql: str | None = None) -> None:
    conn = sqlite3.connect(path)
    (needle,) = conn.execute(sql).fetchone()
    conn.close()
    raw = bytearray(path.read_bytes())
    at = raw.find(needle.encode())
    assert at >= 0 and raw.find(needle.encode(), at + 1) < 0
    i = next(i for i in range(at + len(needle) - 1, at, -1) if chr(raw[i]).isdigit())
    raw[i] = ord("7" if raw[i] != ord("7") else "3")
    path.write_bytes(bytes(raw))


def test_a_flipped_digit_in_a_snapshot_is_named_with_its_pair_and_what_to_do(base, tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(base.read_bytes())
    digit_changed(path, "SELECT substr(snapshot, 1, 60) FROM engine_state")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StoreError) as err:
        Store(path)
    text = str(err.value)
    assert text.startswith(f"{path}: damaged: the engine snapshot of BTC-USD (table engine_state)")
    assert text.endswith(REMEDY)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # nothing changed


def test_a_flipped_digit_in_a_journal_row_is_named_with_its_row(base, tmp_path):
    path = tmp_path / "j.sqlite"
    path.write_bytes(base.read_bytes())
    digit_changed(path, "SELECT payload FROM journal WHERE type = 'OrderFilled' LIMIT 1")
    with pytest.raises(StoreError, match=r"journal row \d+ \(BTC-USD, OrderFilled\) fails its"):
        Store(path)


def test_damage_after_open_is_found_on_the_read(base, tmp_path):
    """A row damaged while the store is open (here: rewritten behind its back) fails its
    checksum when it is read: a StoreError, never silently wrong."""
    path = tmp_path / "late.sqlite"
    path.write_bytes(base.read_bytes())
    with Store(path) as store:
        raw = sqlite3.connect(path)
        raw.execute("UPDATE engine_state SET snapshot = replace(snapshot, ':', ';')")
        raw.execute("UPDATE journal SET payload = replace(payload, '1', '2') WHERE seq = 3")
        raw.commit()
        raw.close()
        with pytest.raises(StoreError, match=r"engine snapshot of BTC-USD .* fails its checksum"):
            store.load_engine_state("BTC-USD")
        with pytest.raises(StoreError, match=r"journal row 3 \(BTC-USD"):
            store.journal()


def test_an_old_row_without_a_checksum_still_has_its_json_checked(base, tmp_path):
    path = tmp_path / "old.sqlite"
    path.write_bytes(base.read_bytes())
    raw = sqlite3.connect(path)
    raw.execute("UPDATE engine_state SET crc = NULL, snapshot = '{\"seq\" 1}'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match=r"engine snapshot of BTC-USD .* is not JSON \(Expecting"):
        Store(path)


def test_a_damaged_index_is_found_at_open(base, tmp_path):
    import random

    path = tmp_path / "i.sqlite"
    path.write_bytes(base.read_bytes())
    assert damage._damage("index-bit-flip", path, random.Random(5))
    with pytest.raises(StoreError, match=r"SQLite's integrity check: .*index"):
        Store(path)
