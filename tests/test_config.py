from decimal import Decimal as D

import pytest

from tradekit.config import ConfigError, PullbackConfig, load_config
from tradekit.core import PullbackEntry
from tradekit.core.money import ProductSpec

GOOD = """
[portfolio]
max_open_positions = 2
max_quote_exposure = 5000

[[pairs]]
product_id = "BTC-USD"
quote_budget = 1000
trail_pct = 0.02
stop_limit_buffer_pct = 0.005
min_ratchet = 0.001
max_entry_wait = "5m"
[pairs.entry]
rule = "fixed_offset"
offset_pct = 0.001

[[pairs]]
product_id = "ETH-USD"
size = "0.5"
trail_pct = 0.03
[pairs.entry]
rule = "pullback"
pullback_pct = 0.02
window = "1h"
"""

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))


def write(tmp_path, text):
    p = tmp_path / "tradekit.toml"
    p.write_text(text)
    return p


def test_good_file_gives_exact_decimals_and_core_params(tmp_path):
    cfg = load_config(write(tmp_path, GOOD), environ={})
    btc = cfg.pair("BTC-USD")
    assert btc.trail_pct == D("0.02") and type(btc.trail_pct) is D
    assert btc.max_entry_wait == 300 * 10**9
    params = btc.params(BTC)
    assert params.trail.min_ratchet == D("0.001") and params.quote_budget == D("1000")
    eth = cfg.pair("ETH-USD")
    assert isinstance(eth.entry, PullbackConfig)
    assert isinstance(eth.entry_rule(), PullbackEntry)
    assert cfg.portfolio.max_open_positions == 2


def test_every_bad_field_is_listed_once_with_its_path(tmp_path):
    bad = GOOD.replace("trail_pct = 0.02", "trail_pct = 1.5").replace(
        'max_entry_wait = "5m"', 'max_entry_wait = "soon"'
    )
    bad = bad.replace('size = "0.5"', 'size = "0.5"\nquote_budget = 10\nfoo = 1')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, bad), environ={})
    text = str(info.value)
    assert "tradekit.toml: 4 problems" in text
    assert "pairs[0] (BTC-USD).trail_pct" in text
    assert "pairs[0] (BTC-USD).max_entry_wait" in text and "'soon'" in text
    assert "pairs[1] (ETH-USD).foo" in text
    assert "exactly one of 'size'" in text


def test_environment_overrides(tmp_path):
    env = {
        "TRADEKIT__PAIRS__BTC_USD__TRAIL_PCT": "0.05",
        "TRADEKIT__PORTFOLIO__MAX_OPEN_POSITIONS": "1",
        "TRADEKIT__PAIRS__ETH_USD__ENTRY__PULLBACK_PCT": "0.04",
        "UNRELATED": "x",
    }
    cfg = load_config(write(tmp_path, GOOD), environ=env)
    assert cfg.pair("BTC-USD").trail_pct == D("0.05")
    assert cfg.portfolio.max_open_positions == 1
    assert cfg.pair("ETH-USD").entry.pullback_pct == D("0.04")
    with pytest.raises(ConfigError, match=r"trail_pct"):
        load_config(write(tmp_path, GOOD), environ={"TRADEKIT__PAIRS__BTC_USD__TRAIL_PCT": "x"})


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "pairs = [ ["), environ={})


def test_duplicate_pairs_and_empty(tmp_path):
    dup = GOOD.replace('product_id = "ETH-USD"', 'product_id = "BTC-USD"')
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(write(tmp_path, dup), environ={})
    with pytest.raises(ConfigError, match="pairs"):
        load_config(write(tmp_path, "[portfolio]\n"), environ={})


def test_protection_settings_reach_the_core():
    from tradekit.config import load_config_dict
    from tradekit.core import BreachPolicy
    from tradekit.exchange.products import DEFAULT_PRODUCTS

    cfg = load_config_dict(
        {
            "pairs": [
                {
                    "product_id": "BTC-USD",
                    "size": "0.01",
                    "trail_pct": "0.02",
                    "on_breach": "wait",
                    "exit_reprice_after": "2s",
                    "gap_exit_after": "30s",
                    "gap_exit_after_trades": 5,
                }
            ]
        }
    )
    p = cfg.pairs[0].params(DEFAULT_PRODUCTS["BTC-USD"]).protection
    assert p.on_breach is BreachPolicy.WAIT
    assert (p.exit_reprice_ns, p.gap_exit_after_ns, p.gap_exit_after_trades) == (
        2 * 10**9,
        30 * 10**9,
        5,
    )
    default = load_config_dict(
        {"pairs": [{"product_id": "BTC-USD", "size": "1", "trail_pct": "0.02"}]}
    )
    assert default.pairs[0].params(DEFAULT_PRODUCTS["BTC-USD"]).protection.on_breach == "exit"


def test_a_bad_on_breach_is_named():
    import pytest

    from tradekit.config import ConfigError, load_config_dict

    with pytest.raises(ConfigError, match="on_breach"):
        load_config_dict(
            {
                "pairs": [
                    {"product_id": "BTC-USD", "size": "1", "trail_pct": "0.02", "on_breach": "pray"}
                ]
            }
        )


def test_sanity_guards_are_on_by_default_and_can_be_turned_off():
    from decimal import Decimal as D

    from tradekit.config import load_config_dict
    from tradekit.exchange.products import DEFAULT_PRODUCTS

    spec = DEFAULT_PRODUCTS["BTC-USD"]
    pair = {"product_id": "BTC-USD", "size": "1", "trail_pct": "0.02"}
    on = load_config_dict({"pairs": [pair]}).pairs[0].params(spec).sanity
    assert (on.print_band_pct, on.max_order_value, on.order_price_band_pct) == (
        D("0.05"),
        D("25000"),
        D("0.05"),
    )
    off = {**pair, "print_band_pct": "off", "max_order_value": "off"}
    sanity = load_config_dict({"pairs": [off]}).pairs[0].params(spec).sanity
    assert sanity.print_band_pct is None and sanity.max_order_value is None


def test_a_fraction_given_as_a_percentage_is_explained():
    import pytest

    from tradekit.config import ConfigError, load_config_dict

    pair = {"product_id": "BTC-USD", "size": "0.01", "trail_pct": "3"}
    with pytest.raises(ConfigError, match=r"trail_pct: .*a fraction \(0\.03 means 3%\)"):
        load_config_dict({"pairs": [pair]}, "t", environ={})


@pytest.mark.parametrize(
    "nested",
    [
        "x = " + "[" * 500 + "]" * 500,  # arrays
        "x = " + "{a = " * 500 + "1" + "}" * 500,  # inline tables
        "x = " + "[" * 40 + "1" + "]" * 40,  # parses, but deeper than any config
    ],
    ids=["arrays-500", "tables-500", "arrays-40"],
)
def test_a_config_nested_too_deep_is_one_clear_error(tmp_path, nested):
    from tradekit.config import MAX_DEPTH, ConfigError, load_config

    path = tmp_path / "deep.toml"
    path.write_text('[[pairs]]\nproduct_id = "BTC-USD"\n' + nested + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    (problem,) = err.value.problems
    assert "levels deep" in problem and f"at most {MAX_DEPTH} levels" in problem
    assert err.value.source == str(path)
