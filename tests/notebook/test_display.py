"""Readable tables: exact Decimals in HTML, everything in the DataFrame."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from helpers.nbtools import demo_engine, require

from tradekit.notebook import tables
from tradekit.notebook.display import Table, format_ts, format_value


@pytest.fixture(scope="module")
def store():
    _, engine = demo_engine(run_id="tables")
    engine.run()
    return engine.store


def test_positions_show_exact_decimals(store):
    table = tables.positions(store)
    closed = store.closed_positions()
    assert len(table) == len(closed) + len(store.open_positions())
    html = table._repr_html_()
    for p in closed:
        assert str(p["realized_pnl"]) in html  # every digit, e.g. -79.2048660000000
        assert str(p["entry_price"]) in html
    opened = datetime.fromtimestamp(closed[0]["opened_ts"] // 10**9, tz=UTC)
    assert opened.strftime("%Y-%m-%d %H:%M:%S UTC") in html
    assert "closed" in html and "open" in html
    assert "positions" in repr(table)


def test_each_table_renders_and_lists_its_rows(store):
    for table, rows in (
        (tables.orders(store), store.order_history()),
        (tables.fills(store), store.fills()),
        (tables.stops(store), store.stop_history()),
        (tables.stop_history(store), store.stop_history()),
    ):
        assert len(table) == len(rows) > 0
        html = table._repr_html_()
        assert html.startswith("<div class='tradekit-table'>")
        assert f"({len(rows)} rows)" in html


def test_long_tables_are_cut_in_html_but_not_in_data(store):
    table = tables.journal(store, last=None)
    assert len(table) > 60
    html = table._repr_html_()
    assert "not shown" in html and html.count("<tr>") == 60 + 1
    assert table.rows[-1]["seq"] == store.journal()[-1]["seq"]  # the journal shows the tail
    assert str(table.rows[-1]["seq"]) in html
    assert len(tables.journal(store, last=5)) == 5


def test_to_dataframe_keeps_decimals_and_converts_times(store):
    require("pandas")
    df = tables.positions(store).to_dataframe()
    assert list(df.columns)[:3] == ["id", "product_id", "state"]
    assert isinstance(df["realized_pnl"].iloc[0], Decimal)
    assert str(df["opened_ts"].dtype).startswith("datetime64")
    assert df["closed_ts"].isna().sum() == len(store.open_positions())
    journal = tables.journal(store, kinds="report", last=3).to_dataframe()
    assert "payload" in journal.columns and len(journal) == 3


def test_formatting_helpers():
    assert format_value(Decimal("1E+2")) == "100"
    assert format_value(Decimal("0.10")) == "0.10"
    assert format_value({"a": Decimal("1.50"), "b": {"c": None}}) == "a=1.50  b={c=null}"
    assert format_ts(1_704_067_200_000_000_000) == "2024-01-01 00:00:00 UTC"
    empty = Table("nothing", ["a"], [])
    assert "(none)" in empty._repr_html_()
    assert "<script>" not in Table("x", ["a"], [{"a": "<script>"}])._repr_html_()
