"""Seeded synthetic trade streams: a jump-diffusion price with clustered volatility.

Why synthetic paths: a strategy can be exercised on many reproducible markets (calm,
trending, gappy, turbulent) without downloading anything, and a failing run can be
replayed exactly from its parameters and seed.

The model, per tick i -> i+1 with elapsed time dt (in years of 365 days, crypto never
closes):

    log P += (mu - v/2) dt + sqrt(v dt) z                         z ~ N(0, 1)
    log P += J  with probability 1 - exp(-jump_intensity dt)      J ~ N(jump_mean, jump_std)
    v     <- (1 - a - b) volatility^2 + a v z^2 + b v              (GARCH(1,1) in tick time)

`mu` is `drift` minus the Merton jump compensator, so `drift` is the expected growth
rate of the price with jumps included. `v` starts at, and reverts to, `volatility^2`.

The walk itself runs in floats (speed); every emitted price is an exact Decimal built
from an integer count of `quote_increment`s (rounded half-even, at least one), and every
size from an integer count of `base_increment`s. No float reaches a MarketTrade.
"""

from __future__ import annotations

import gc
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from random import Random
from typing import Any

from tradekit.core.events import MarketTrade
from tradekit.core.money import to_decimal

NS_PER_SECOND = 1_000_000_000
NS_PER_YEAR = 365 * 86_400 * NS_PER_SECOND
DEFAULT_START_TS = 1_704_067_200 * NS_PER_SECOND  # 2024-01-01T00:00:00Z


def _steps_half_even(value: Decimal, increment: Decimal) -> int:
    """`value` as a whole number of increments, ties to even, never below one."""
    return max(1, int((value / increment).to_integral_value(rounding=ROUND_HALF_EVEN)))


@dataclass(frozen=True, slots=True)
class PricePath:
    """A reproducible trade stream: the same parameters always give the same trades.

    Tick 0 is `start_price` (rounded onto the grid) at `start_ts`. Rates (`drift`,
    `volatility`, `jump_intensity`) are per year; `jump_mean`/`jump_std` describe the log
    size of one jump; `garch_alpha`/`garch_beta` set how strongly and how long a shock
    raises later volatility (0, 0 = constant volatility). With `random_spacing`, gaps
    between ticks are exponential with mean `tick_ns` (Poisson arrivals, at least 1 ns).
    Trade sizes are log-normal around `size_median` with log spread `size_sigma`.
    """

    product_id: str
    start_price: Decimal
    n_ticks: int
    seed: int = 0
    quote_increment: Decimal = Decimal("0.01")
    base_increment: Decimal = Decimal("0.00000001")
    tick_ns: int = NS_PER_SECOND
    start_ts: int = DEFAULT_START_TS
    random_spacing: bool = False
    drift: float = 0.0
    volatility: float = 0.8
    garch_alpha: float = 0.05
    garch_beta: float = 0.94
    jump_intensity: float = 20.0
    jump_mean: float = 0.0
    jump_std: float = 0.02
    size_median: Decimal = Decimal("0.01")
    size_sigma: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start_price", "quote_increment", "base_increment", "size_median"):
            object.__setattr__(self, name, to_decimal(getattr(self, name), name))
        for name in (
            "drift",
            "volatility",
            "garch_alpha",
            "garch_beta",
            "jump_intensity",
            "jump_mean",
            "jump_std",
            "size_sigma",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise TypeError(f"{name}: expected a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite, got {value!r}")
            object.__setattr__(self, name, value)
        if self.start_price <= 0:
            raise ValueError(f"start_price must be positive, got {self.start_price}")
        if self.quote_increment <= 0 or self.base_increment <= 0:
            raise ValueError("quote_increment and base_increment must be positive")
        if self.size_median <= 0:
            raise ValueError(f"size_median must be positive, got {self.size_median}")
        if self.n_ticks < 0:
            raise ValueError(f"n_ticks must be >= 0, got {self.n_ticks}")
        if self.tick_ns <= 0:
            raise ValueError(f"tick_ns must be positive, got {self.tick_ns}")
        for name in ("volatility", "garch_alpha", "garch_beta", "jump_intensity"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.jump_std < 0 or self.size_sigma < 0:
            raise ValueError("jump_std and size_sigma must be >= 0")
        if self.garch_alpha + self.garch_beta >= 1:
            raise ValueError("garch_alpha + garch_beta must be < 1 (else variance explodes)")

    def __len__(self) -> int:
        return self.n_ticks

    def __iter__(self) -> Iterator[MarketTrade]:
        return self.ticks()

    def to_list(self) -> list[MarketTrade]:
        """All ticks at once (about 200 bytes each: mind memory beyond a few million).

        The cyclic garbage collector is paused while the list grows: a million new objects
        trigger repeated full scans that would almost double the time, and none of these
        objects can form a cycle.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return list(self.ticks())
        finally:
            if was_enabled:
                gc.enable()

    def ticks(self, start: int = 0) -> Iterator[MarketTrade]:
        """Ticks from index `start` on, identical to the tail of the full path.

        The walk is replayed from the seed, but ticks before `start` only advance the
        random state and the float walk (no Decimal, no MarketTrade), which is cheap.
        """
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        return self._walk(start)

    def _walk(self, start: int) -> Iterator[MarketTrade]:
        product_id = self.product_id
        quote_inc = self.quote_increment
        base_inc = self.base_increment
        for i, (steps, size_steps, ts) in enumerate(self._steps(start), start):
            yield MarketTrade(
                product_id,
                Decimal(steps) * quote_inc,
                Decimal(size_steps) * base_inc,
                ts,
                str(i),
            )

    def chunks(self, size: int = 1 << 20, start: int = 0) -> Iterator[tuple[Any, Any]]:
        """The same ticks as int64 arrays, `size` at a time: (prices in whole quote
        increments, times in ns); no Decimal, no MarketTrade, memory of one chunk."""
        import numpy as np

        prices = array("q")
        times = array("q")
        for steps, _, ts in self._steps(start):
            prices.append(steps)
            times.append(ts)
            if len(prices) == size:
                yield np.frombuffer(prices, np.int64).copy(), np.frombuffer(times, np.int64).copy()
                prices = array("q")
                times = array("q")
        if prices:
            yield np.frombuffer(prices, np.int64).copy(), np.frombuffer(times, np.int64).copy()

    def _steps(self, start: int) -> Iterator[tuple[int, int, int]]:
        """The walk as (price steps, size steps, ts), from tick `start` on: the one loop
        `ticks()` and `arrays()` share. Everything it touches is a local."""
        rng = Random(self.seed)
        gauss = rng.gauss
        uniform = rng.random
        expovariate = rng.expovariate
        exp = math.exp
        sqrt = math.sqrt
        expm1 = math.expm1

        quote_inc = self.quote_increment
        base_inc = self.base_increment
        n = self.n_ticks
        random_spacing = self.random_spacing
        tick_ns = self.tick_ns
        rate = 1.0 / tick_ns
        dt = tick_ns / NS_PER_YEAR
        lam = self.jump_intensity
        jump_mean = self.jump_mean
        jump_std = self.jump_std
        jump_p = -expm1(-lam * dt)
        vbar = self.volatility * self.volatility
        a = self.garch_alpha
        b = self.garch_beta
        omega = (1.0 - a - b) * vbar
        mu = self.drift - lam * (exp(jump_mean + 0.5 * jump_std * jump_std) - 1.0)
        size_sigma = self.size_sigma
        size_median = float(self.size_median / base_inc)

        # The price is tracked as log(price / quote_increment): rounding is then round().
        steps0 = _steps_half_even(self.start_price, quote_inc)
        x = math.log(self.start_price / quote_inc)
        v = vbar
        ts = self.start_ts - tick_ns
        gap = tick_ns

        for i in range(n):
            if i:
                if random_spacing:
                    gap = max(1, int(expovariate(rate)))
                    dt = gap / NS_PER_YEAR
                    jump_p = -expm1(-lam * dt)
                z = gauss()
                x += (mu - 0.5 * v) * dt + sqrt(v * dt) * z
                v = omega + (a * z * z + b) * v
                if uniform() < jump_p:
                    x += gauss(jump_mean, jump_std)
            ts += gap
            size_z = gauss()
            if i < start:
                continue
            if i:
                # OverflowError only on an absurd path (price beyond 1e300 increments).
                steps = round(exp(x))
                if steps < 1:
                    steps = 1
            else:
                steps = steps0
            size_steps = round(size_median * exp(size_sigma * size_z))
            if size_steps < 1:
                size_steps = 1
            yield steps, size_steps, ts
