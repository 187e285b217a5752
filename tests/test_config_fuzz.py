"""The config loader turns every malformed input into a ConfigError naming where, in
bounded time: it never crashes later (at start or at the first entry) and never hangs."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradekit.config import ConfigError, load_config_dict
from tradekit.core import DecisionEngine, MarketTrade
from tradekit.exchange.products import DEFAULT_PRODUCTS

KEYS = [
    "size", "quote_budget", "trail_pct", "stop_limit_buffer_pct", "min_ratchet",
    "max_entry_wait", "on_breach", "exit_reprice_after", "gap_exit_after",
    "gap_exit_after_trades", "print_band_pct", "confirm_trades", "max_order_value",
    "max_order_size", "order_price_band_pct",
]  # fmt: skip

numbers = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from(["1e999999999", "-1e-999999999", "inf", "nan", "1e30", "0", "-1", "90s",
                     "99999999999999999999h", "off", "exit", "wait", "0.02", "1e-30"]),
    st.text(max_size=20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)  # fmt: skip


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), numbers, max_size=6), numbers)
def test_any_pair_config_loads_or_names_its_problem(fields, portfolio_value):
    pair = {"product_id": "BTC-USD", "size": "0.01", "trail_pct": "0.02", **fields}
    data = {"portfolio": {"max_open_positions": portfolio_value}, "pairs": [pair]}
    try:
        config = load_config_dict(data, "fuzz.toml", environ={})
    except ConfigError as exc:
        assert exc.problems and all(p for p in exc.problems)
        assert "fuzz.toml" in str(exc)
        return
    # accepted: it must also start and trade without an error; what only the product's
    # limits can refuse (a size above its maximum) is a clear error at start
    p = config.pairs[0]
    try:
        params = p.params(DEFAULT_PRODUCTS["BTC-USD"])
    except ValueError as exc:
        assert str(exc).startswith("BTC-USD: ")
        return
    engine = DecisionEngine(params, p.entry_rule(), "f")
    for i, price in enumerate(("60000", "59000", "61000")):
        engine.handle(MarketTrade("BTC-USD", Decimal(price), Decimal("1"), i * 10**9))
