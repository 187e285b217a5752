"""Numbers for people: rounded to the product's increments or to cents for display,
while the tables' rows and `to_dataframe()` keep the exact Decimals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradekit import format as fmt
from tradekit.core.money import ProductSpec

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00001"))
SHIB = ProductSpec("SHIB-USD", D("1"), D("0.00000001"), D("1"))


@pytest.mark.parametrize(
    "value, product, shown",
    [
        (D("59696.5234"), BTC, "59,696.52"),
        (D("59696.5"), BTC, "59,696.50"),
        (D("0.0000123456"), SHIB, "0.00001235"),
        (D("1E+3"), BTC, "1,000.00"),
        (D("185.735"), None, "185.74"),
    ],
)
def test_prices_read_at_the_products_quote_increment(value, product, shown):
    assert fmt.price(value, product) == shown


def test_sizes_read_the_same_everywhere_at_the_base_increment():
    assert fmt.size(D("0.05"), BTC) == fmt.size(D("0.05000000"), BTC) == "0.05"
    assert fmt.size(D("0.041710912345"), BTC) == "0.04171091"
    assert fmt.size(D("12"), SHIB) == "12"
    assert fmt.size(None) == "–"


def test_money_to_the_cent_and_signed_pnl():
    assert fmt.money(D("-185.7378130000000"), "USD") == "-185.74 USD"
    assert fmt.money(D("17.4819510000000")) == "17.48"
    assert fmt.money(D("-0.001")) == "0.00"
    assert fmt.signed_money(D("12.3")) == "+12.30"
    assert fmt.signed_money(D("-31.4871897265918")) == "-31.49"
    assert fmt.signed_money(D("0")) == "0.00"


def test_percentages_and_plurals_and_ids():
    assert fmt.pct(D("0.015")) == "1.5%"
    assert fmt.pct(D("0.00123")) == "0.12%"
    assert fmt.pct(D("-0.0004")) == "-0.04%"
    assert fmt.count(1, "stop move") == "1 stop move"
    assert fmt.count(74, "stop move") == "74 stop moves"
    assert fmt.count(1, "entry") == "1 entry" and fmt.count(3, "entry") == "3 entries"
    assert fmt.count(2, "day") == "2 days"
    assert fmt.count(1200, "fill") == "1,200 fills"
    long_id = "a1b2c3-BTC-USD-1234"
    short = fmt.short_id(long_id, 12)
    assert len(short) == 12 and short.startswith("a1b2c3") and short.endswith("234")
    assert fmt.short_id("abc") == "abc"
    # our ids read whole whatever their length; an exchange's UUID by its first block
    assert fmt.short_id("phase1-BTC-USD-34") == "phase1-BTC-USD-34"
    assert fmt.short_id("601c6bc9-e26b-5d00-94fb-1e69f4998e6c") == "601c6bc9…"
    assert fmt.timestamp(1_704_067_200_123_456_789) == "2024-01-01 00:00:00 UTC"


def test_tables_round_for_people_and_keep_exact_decimals_in_the_dataframe():
    from tradekit.notebook.display import Table

    rows = [
        {
            "product_id": "BTC-USD",
            "client_order_id": "run1-BTC-USD-0000000042",
            "price": D("59696.5234"),
            "size": D("0.05000000"),
            "fee": D("17.4819510000000"),
            "stop_distance": D("0.0123"),
        }
    ]
    cols = ["client_order_id", "price", "size", "fee", "stop_distance"]
    table = Table("t", cols, rows, products={"BTC-USD": BTC})
    html = table._repr_html_()
    assert ">59,696.52<" in html and ">0.05<" in html and ">17.48<" in html and ">1.23%<" in html
    assert "title='59696.5234'" in html and "title='17.4819510000000'" in html
    assert "run1-BTC-USD-0000000042" not in html.split("title=")[0]  # shortened in the cell
    assert "title='run1-BTC-USD-0000000042'" in html  # the full id on hover
    assert "59,696.52" in repr(table)
    df = table.to_dataframe()
    assert df.loc[0, "price"] == D("59696.5234") and isinstance(df.loc[0, "price"], D)
    assert df.loc[0, "fee"] == D("17.4819510000000")
    assert list(Table("t", ["price"], rows).columns) == ["price"]  # column choice
