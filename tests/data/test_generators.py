"""Synthetic price paths: reproducible, exact on the grid, and with the advertised features."""

from __future__ import annotations

import gc
import math
from decimal import Decimal
from itertools import pairwise

import pytest

from tradekit.core.events import MarketTrade
from tradekit.core.money import is_multiple
from tradekit.data import PricePath

SECONDS_PER_YEAR = 365 * 86_400
FINE = Decimal("1E-8")  # a grid so fine that rounding does not blur return statistics


def path(**kwargs: object) -> PricePath:
    params: dict[str, object] = {
        "product_id": "BTC-USD",
        "start_price": Decimal("50000"),
        "n_ticks": 3000,
        "seed": 7,
    }
    params.update(kwargs)
    return PricePath(**params)  # type: ignore[arg-type]


def log_returns(trades: list[MarketTrade]) -> list[float]:
    prices = [float(t.price) for t in trades]
    return [math.log(b / a) for a, b in pairwise(prices)]


def autocorrelation(xs: list[float], lag: int = 1) -> float:
    mean = sum(xs) / len(xs)
    num = sum((xs[i] - mean) * (xs[i + lag] - mean) for i in range(len(xs) - lag))
    return num / sum((x - mean) ** 2 for x in xs)


@pytest.mark.parametrize("random_spacing", [False, True])
def test_same_seed_same_trades(random_spacing: bool) -> None:
    a = path(random_spacing=random_spacing).to_list()
    b = path(random_spacing=random_spacing).to_list()
    assert a == b
    assert len(a) == 3000


def test_different_seeds_differ() -> None:
    a = path(seed=1).to_list()
    b = path(seed=2).to_list()
    assert a[0].price == b[0].price  # both start at the start price
    assert [t.price for t in a] != [t.price for t in b]
    assert [t.size for t in a] != [t.size for t in b]


@pytest.mark.parametrize("random_spacing", [False, True])
def test_trades_are_exact_on_grid_and_ordered(random_spacing: bool) -> None:
    p = path(quote_increment=Decimal("0.05"), random_spacing=random_spacing)
    trades = list(p)
    assert len(trades) == len(p) == 3000
    for i, t in enumerate(trades):
        assert type(t.price) is Decimal and type(t.size) is Decimal
        assert t.price > 0 and is_multiple(t.price, Decimal("0.05"))
        assert t.size > 0 and is_multiple(t.size, p.base_increment)
        assert type(t.ts) is int
        assert t.trade_id == str(i)
        assert t.product_id == "BTC-USD"
    assert all(b.ts > a.ts for a, b in pairwise(trades))
    assert trades[0].ts == p.start_ts


def test_fixed_spacing_is_exact_and_random_spacing_varies() -> None:
    fixed = path(tick_ns=250_000_000).to_list()
    assert {b.ts - a.ts for a, b in pairwise(fixed)} == {250_000_000}
    jittered = path(tick_ns=250_000_000, random_spacing=True).to_list()
    gaps = [b.ts - a.ts for a, b in pairwise(jittered)]
    assert len(set(gaps)) > 100
    assert 0.9 < sum(gaps) / len(gaps) / 250_000_000 < 1.1


@pytest.mark.parametrize(("start", "expected"), [("100.005", "100.00"), ("100.015", "100.02")])
def test_start_price_rounds_half_even(start: str, expected: str) -> None:
    first = next(iter(path(start_price=Decimal(start), quote_increment=Decimal("0.01"))))
    assert first.price == Decimal(expected)
    assert str(first.price) == expected


def test_price_never_falls_below_one_increment() -> None:
    crash = path(
        start_price=Decimal("0.03"),
        quote_increment=Decimal("0.01"),
        drift=-5e6,
        volatility=5.0,
        jump_intensity=0,
    ).to_list()
    assert min(t.price for t in crash) == Decimal("0.01")
    assert crash[-1].price == Decimal("0.01")


def test_jumps_produce_large_moves() -> None:
    sigma = 0.8 / math.sqrt(SECONDS_PER_YEAR)  # per-tick volatility for 1 s ticks
    common = {"start_price": Decimal(1000), "quote_increment": FINE, "n_ticks": 20_000}
    calm = path(**common, jump_intensity=0, garch_alpha=0, garch_beta=0).to_list()
    jumpy = path(
        **common,
        jump_intensity=0.01 * SECONDS_PER_YEAR,  # about one tick in a hundred
        jump_std=0.01,
        garch_alpha=0,
        garch_beta=0,
    ).to_list()
    assert sum(abs(r) > 6 * sigma for r in log_returns(calm)) == 0
    assert 100 < sum(abs(r) > 6 * sigma for r in log_returns(jumpy)) < 300


def test_garch_clusters_volatility() -> None:
    common = {
        "start_price": Decimal(1000),
        "quote_increment": FINE,
        "n_ticks": 20_000,
        "jump_intensity": 0,
    }
    clustered = path(**common, garch_alpha=0.1, garch_beta=0.85).to_list()
    constant = path(**common, garch_alpha=0, garch_beta=0).to_list()
    ac_clustered = autocorrelation([abs(r) for r in log_returns(clustered)])
    ac_constant = autocorrelation([abs(r) for r in log_returns(constant)])
    assert ac_clustered > 0.08
    assert abs(ac_constant) < 0.04


@pytest.mark.parametrize("random_spacing", [False, True])
def test_seek_equals_tail_of_full_path(random_spacing: bool) -> None:
    p = path(random_spacing=random_spacing, jump_intensity=0.001 * SECONDS_PER_YEAR)
    full = p.to_list()
    for k in (0, 1, 2, 999, 2999, 3000, 5000):
        assert list(p.ticks(k)) == full[k:]


def test_seek_rejects_negative_start() -> None:
    with pytest.raises(ValueError, match="start"):
        path().ticks(-1)


def test_to_list_restores_garbage_collector() -> None:
    assert gc.isenabled()
    path(n_ticks=10).to_list()
    assert gc.isenabled()
    gc.disable()
    try:
        path(n_ticks=10).to_list()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_empty_path() -> None:
    p = path(n_ticks=0)
    assert len(p) == 0
    assert p.to_list() == []


def test_float_money_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        path(start_price=50000.0)
    with pytest.raises(TypeError, match="float"):
        path(quote_increment=0.01)


@pytest.mark.parametrize(
    "bad",
    [
        {"start_price": Decimal(0)},
        {"quote_increment": Decimal(0)},
        {"base_increment": Decimal("-1")},
        {"n_ticks": -1},
        {"tick_ns": 0},
        {"volatility": -0.1},
        {"garch_alpha": 0.5, "garch_beta": 0.5},
        {"jump_intensity": -1},
        {"jump_std": -0.01},
        {"drift": float("nan")},
    ],
)
def test_bad_parameters_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        path(**bad)


def test_params_are_frozen() -> None:
    p = path()
    with pytest.raises(AttributeError):
        p.seed = 3  # type: ignore[misc]
