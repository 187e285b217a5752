"""What one backtest runs: a pair's parameters, its entry rule and its paper account.

`BacktestSpec` is a small frozen, picklable value: a sweep ships it to worker processes
(or a Dask cluster) and changes one field per configuration with `spec.with_(...)`.
`resolve_spec` turns whatever a user has into one: a TOML config file (the `run` format,
with an optional `[backtest]` table), a validated `Config` or `PairConfig`, or a plain
dict of parameters.

A spec carries the pair's protection and sanity settings too (`protection`, `sanity`),
so a backtest applies the rules the live run would. There is one set of defaults,
the live config's, whichever way a backtest is configured (a TOML file, a Config, a
dict, a BacktestSpec): the `fixed_offset` entry (bid 0.1 % under the last trade, again
after every exit), a 300 s entry wait, and the pair's guards as `tradekit run` has them
(`tradekit.config.PairGuards`: a 5 % print band, a 25,000 order value cap, a 5 % order
price band, protection's exits). Set any of them by its config name
(`print_band_pct="off"`, `entry="once"`, ...). Only the paper account (balance 10,000,
fees 0.4 %/0.6 %, a 1,000 budget when no size is given) is the backtest's own.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.core.decision import PairParams
from tradekit.core.entry import EntryRule, FixedOffsetEntry, PullbackEntry
from tradekit.core.money import ZERO, ProductSpec, to_decimal
from tradekit.core.position import TrailParams
from tradekit.core.protection import ProtectionParams
from tradekit.core.sanity import SanityParams

NS_PER_SECOND = 1_000_000_000
ENTRY_RULES = ("once", "fixed_offset", "pullback")
_PARAM_KEYS = frozenset(
    {
        "product_id",
        "trail_pct",
        "stop_limit_buffer_pct",
        "min_ratchet",
        "max_entry_wait",
        "size",
        "quote_budget",
        "entry",
        "balance",
        "maker_fee",
        "taker_fee",
        "sell_fills",
    }
)


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """An entry rule as data (picklable, comparable); `make()` builds a fresh rule.

    rule "once": buy once, at bar `at_bar` (its open; on a source of trades, trade
    `at_bar`), not before trade index `at_tick` and not before time `at_ts`;
    "fixed_offset" (the default, as live): buy again after every exit; "pullback": buy
    after a dip of `pullback_pct` under the high of the last `window_ns`. All bid
    `offset_pct` (default 0.1 %, as live) under the last trade.
    """

    rule: str = "fixed_offset"
    offset_pct: Decimal = Decimal("0.001")
    at_tick: int = 0
    at_ts: int | None = None
    at_bar: int | None = None
    pullback_pct: Decimal = Decimal("0.01")
    window_ns: int = 3600 * NS_PER_SECOND

    def __post_init__(self) -> None:
        for name in ("at_tick", "at_bar", "window_ns", "at_ts"):
            object.__setattr__(self, name, _whole(getattr(self, name), f"entry.{name}"))
        if self.rule not in ENTRY_RULES:
            raise ValueError(f"entry rule {self.rule!r} is not one of {', '.join(ENTRY_RULES)}")
        object.__setattr__(self, "offset_pct", to_decimal(self.offset_pct, "entry.offset_pct"))
        object.__setattr__(
            self, "pullback_pct", to_decimal(self.pullback_pct, "entry.pullback_pct")
        )

    def make(self) -> EntryRule:
        from tradekit.core.entry import EnterOnce

        if self.rule == "once":
            return EnterOnce(self.at_tick, self.at_ts, self.offset_pct)
        if self.rule == "fixed_offset":
            return FixedOffsetEntry(self.offset_pct)
        return PullbackEntry(self.pullback_pct, self.window_ns, self.offset_pct)


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """One pair on a paper account: the core's parameters, the entry, balances, fees.

    `protection` and `sanity` are the core's (`tradekit.core.protection`,
    `tradekit.core.sanity`); their defaults are the live config's (module docstring).
    `with_()` and a dict of parameters set them by their config names
    (`print_band_pct="0.02"`, `print_band_pct="off"`, ...)."""

    product: ProductSpec
    trail_pct: Decimal
    stop_limit_buffer_pct: Decimal = Decimal("0.005")
    min_ratchet: Decimal = ZERO
    max_entry_wait_ns: int = 300 * NS_PER_SECOND  # as live
    size: Decimal | None = None
    quote_budget: Decimal | None = None  # neither size nor budget: a budget of 1000
    entry: EntrySpec = field(default_factory=EntrySpec)
    balance: Decimal = Decimal("10000")  # quote currency at the start
    maker_fee: Decimal = Decimal("0.004")
    taker_fee: Decimal = Decimal("0.006")
    # the paper exchange's price for a marketable sell: "trade" (the default, as a book
    # fills it) or "limit" (the pessimistic model: a triggered stop sells at its limit)
    sell_fills: str = "trade"
    protection: ProtectionParams = field(default_factory=lambda: live_guards()[0])
    sanity: SanityParams = field(default_factory=lambda: live_guards()[1])

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "max_entry_wait_ns", _whole(self.max_entry_wait_ns, "max_entry_wait_ns")
        )
        if not isinstance(self.protection, ProtectionParams):
            raise TypeError(f"protection: expected ProtectionParams, got {self.protection!r}")
        if not isinstance(self.sanity, SanityParams):
            raise TypeError(f"sanity: expected SanityParams, got {self.sanity!r}")
        if self.sell_fills not in ("trade", "limit"):
            raise ValueError(f"sell_fills: {self.sell_fills!r} is not 'trade' or 'limit'")
        for name in ("trail_pct", "stop_limit_buffer_pct", "min_ratchet", "balance"):
            object.__setattr__(self, name, to_decimal(getattr(self, name), name))
        for name in ("maker_fee", "taker_fee"):
            object.__setattr__(self, name, to_decimal(getattr(self, name), name))
        if self.size is None and self.quote_budget is None:
            object.__setattr__(self, "quote_budget", Decimal("1000"))
        if self.size is not None:
            object.__setattr__(self, "size", to_decimal(self.size, "size"))
        if self.quote_budget is not None:
            object.__setattr__(self, "quote_budget", to_decimal(self.quote_budget, "quote_budget"))
        if self.balance < 0:
            raise ValueError(f"balance must be >= 0, got {self.balance}")
        self.params()  # every parameter checked now, by the core's own rules

    @property
    def product_id(self) -> str:
        return self.product.product_id

    def trail(self) -> TrailParams:
        return TrailParams(self.trail_pct, self.stop_limit_buffer_pct, self.min_ratchet)

    def params(self) -> PairParams:
        """What the core runs: the live run's `PairParams` for this pair."""
        return PairParams(
            self.product,
            self.trail(),
            self.max_entry_wait_ns,
            self.size,
            self.quote_budget,
            self.protection,
            self.sanity,
        )

    @classmethod
    def from_params(cls, params: PairParams, **rest: Any) -> BacktestSpec:
        """The spec that runs `params` (a live pair's, e.g. `PairConfig.params`); `rest`
        sets the entry and the paper account."""
        trail = params.trail
        return cls(
            product=params.product,
            trail_pct=trail.trail_pct,
            stop_limit_buffer_pct=trail.stop_limit_buffer_pct,
            min_ratchet=trail.min_ratchet,
            max_entry_wait_ns=params.max_entry_wait_ns,
            size=params.size,
            quote_budget=params.quote_budget,
            protection=params.protection,
            sanity=params.sanity,
            **rest,
        )

    def balances(self) -> dict[str, Decimal]:
        return {self.product.quote_currency: self.balance}

    def exchange(self) -> Any:
        """A fresh paper exchange holding this account (in memory, no journal)."""
        from tradekit.exchange.paper import PaperExchange

        return PaperExchange(
            [self.product],
            self.balances(),
            self.maker_fee,
            self.taker_fee,
            id_seed="backtest",
            sell_fills=self.sell_fills,  # type: ignore[arg-type]
            edit_stops=True,  # stops move by edit, as live (exchange.edit_stops)
        )

    def at_bar_bound(self, bar_start: Callable[[int], int]) -> BacktestSpec:
        """`entry.at_bar` made a time (`bar_start(bar)`, ns): the spec the engines run."""
        e = self.entry
        if e.at_bar is None:
            return self
        ts = bar_start(e.at_bar)
        at_ts = ts if e.at_ts is None else max(ts, e.at_ts)
        return dataclasses.replace(self, entry=dataclasses.replace(e, at_bar=None, at_ts=at_ts))

    def with_(self, **changes: Any) -> BacktestSpec:
        """A copy with some fields changed (a sweep's axes): entry fields as
        `entry_<name>`, protection and sanity settings by their config names
        (`print_band_pct="0.02"`, `on_breach="wait"`, `max_order_value="off"`)."""
        changes = {k: _plain(v) for k, v in changes.items()}
        entry_changes = {
            k.removeprefix("entry_"): v for k, v in changes.items() if k.startswith("entry_")
        }
        rest = {k: v for k, v in changes.items() if not k.startswith("entry_")}
        guards = _pop_guards(rest, set(_FIELDS) | {"max_entry_wait"})
        unknown = set(rest) - set(_FIELDS) - {"max_entry_wait"}
        if unknown:
            raise ValueError(f"unknown backtest parameter(s): {', '.join(sorted(unknown))}")
        if guards:
            rest["protection"], rest["sanity"] = _guards(
                guards, rest.get("protection", self.protection), rest.get("sanity", self.sanity)
            )
        if "max_entry_wait" in rest:
            rest["max_entry_wait_ns"] = duration_ns(rest.pop("max_entry_wait"))
        if entry_changes:
            rest["entry"] = dataclasses.replace(self.entry, **entry_changes)
        if "size" in rest and "quote_budget" not in rest:
            rest["quote_budget"] = None
        if "quote_budget" in rest and "size" not in rest:
            rest["size"] = None
        return dataclasses.replace(self, **rest)


_FIELDS = tuple(f.name for f in dataclasses.fields(BacktestSpec))


def _pop_guards(d: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The protection and sanity settings out of `d` (config names; looked up in
    `tradekit.config`, the one list of them, only when `d` has names not in `known`)."""
    if set(d) <= known:
        return {}
    from tradekit.config import GUARD_SETTINGS

    return {k: d.pop(k) for k in GUARD_SETTINGS if k in d}


_LIVE_GUARDS: tuple[ProtectionParams, SanityParams] | None = None


def live_guards() -> tuple[ProtectionParams, SanityParams]:
    """The guards a live pair has by default (`tradekit.config.PairGuards`'s)."""
    global _LIVE_GUARDS
    if _LIVE_GUARDS is None:
        from tradekit.config import PairGuards

        _LIVE_GUARDS = PairGuards().guard_params()
    return _LIVE_GUARDS


def _plain(value: Any) -> Any:
    """A NumPy integer as the int it is (what pandas and NumPy hand out); else as is."""
    if type(value) in (int, bool, str) or value is None:
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "__index__"):
        return int(value.__index__())
    return value


def _whole(value: Any, name: str) -> Any:
    """An int (a NumPy integer taken as one); None passes."""
    if value is None or type(value) is int:
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a whole number, got {value!r}")
    index = getattr(value, "__index__", None)
    if index is None:
        raise TypeError(f"{name}: expected a whole number, got {value!r}")
    return index()


def _guards(
    settings: Mapping[str, Any],
    protection: ProtectionParams | None = None,
    sanity: SanityParams | None = None,
) -> tuple[ProtectionParams, SanityParams]:
    """Protection and sanity settings (config names) validated by the config's rules."""
    from tradekit.config import apply_guards

    live = live_guards()
    return apply_guards(
        settings, protection or live[0], sanity or live[1], source="backtest parameters"
    )


def duration_ns(value: object) -> int:
    from tradekit.config import duration_ns as parse

    ns = parse(value)
    if not isinstance(ns, int) or ns <= 0:
        raise ValueError(f"max_entry_wait: {value!r} is not a positive duration")
    return ns


def default_product(product_id: str) -> ProductSpec:
    """The paper exchange's spec for a known product, else cent prices and 1e-8 sizes."""
    from tradekit.exchange.products import DEFAULT_PRODUCTS

    spec = DEFAULT_PRODUCTS.get(product_id)
    if spec is not None:
        return spec
    return ProductSpec(product_id, Decimal("0.00000001"), Decimal("0.01"), Decimal("0.00000001"))


def _entry_from(value: object) -> EntrySpec:
    if isinstance(value, EntrySpec):
        return value
    if isinstance(value, str):
        return EntrySpec(rule=value)
    if isinstance(value, Mapping):
        d = {k: _plain(v) for k, v in value.items()}
        if "window" in d:
            d["window_ns"] = duration_ns(d.pop("window"))
        try:
            return EntrySpec(**d)
        except TypeError as exc:
            raise ValueError(f"entry: {exc}") from None
    raise ValueError(f"entry: expected a rule name or a table, got {value!r}")


def resolve_spec(
    config_or_params: object,
    product_id: str | None = None,
    product: ProductSpec | None = None,
    **overrides: Any,
) -> BacktestSpec:
    """A BacktestSpec from a spec, a config file path, a Config/PairConfig or a dict."""
    source = config_or_params
    if isinstance(source, BacktestSpec):
        spec = source
    elif isinstance(source, str | os.PathLike):
        spec = _from_file(Path(source), product_id, product)
    elif isinstance(source, Mapping):
        spec = _from_dict(dict(source), product_id, product)
    else:
        spec = spec_from_config(source, product_id, product, {})
    return spec.with_(**overrides) if overrides else spec


def _from_dict(
    d: dict[str, Any], product_id: str | None, product: ProductSpec | None
) -> BacktestSpec:
    d = {k: _plain(v) for k, v in d.items()}
    guards = _pop_guards(d, set(_PARAM_KEYS))
    unknown = set(d) - _PARAM_KEYS
    if unknown:
        from tradekit.config import GUARD_SETTINGS

        raise ValueError(
            f"unknown backtest parameter(s): {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_PARAM_KEYS | set(GUARD_SETTINGS)))})"
        )
    if "trail_pct" not in d:
        raise ValueError("trail_pct: required")
    pid = d.pop("product_id", None) or product_id or (product.product_id if product else "BTC-USD")
    kwargs: dict[str, Any] = {"product": product or default_product(pid)}
    for name in (
        "trail_pct",
        "stop_limit_buffer_pct",
        "min_ratchet",
        "balance",
        "maker_fee",
        "taker_fee",
    ):
        if name in d:
            kwargs[name] = to_decimal(d[name], name)
    if "max_entry_wait" in d:
        kwargs["max_entry_wait_ns"] = duration_ns(d["max_entry_wait"])
    if "size" in d and "quote_budget" in d:
        raise ValueError("give exactly one of 'size' (base) and 'quote_budget' (quote)")
    if "size" in d:
        kwargs["size"] = to_decimal(d["size"], "size")
        kwargs["quote_budget"] = None
    elif "quote_budget" in d:
        kwargs["quote_budget"] = to_decimal(d["quote_budget"], "quote_budget")
    if "entry" in d:
        kwargs["entry"] = _entry_from(d["entry"])
    if "sell_fills" in d:
        kwargs["sell_fills"] = d["sell_fills"]
    if guards:
        kwargs["protection"], kwargs["sanity"] = _guards(guards)
    return BacktestSpec(**kwargs)


def _from_file(path: Path, product_id: str | None, product: ProductSpec | None) -> BacktestSpec:
    """A `tradekit run` TOML file; an optional `[backtest]` table sets the account and
    may replace the entry rule (`entry = "once"` or a table like `[pairs.entry]`)."""
    from tradekit.config import ConfigError

    config, extra = load_backtest_config(path)
    try:
        return spec_from_config(config, product_id, product, extra)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(path), [f"backtest: {exc}"]) from None


def load_backtest_config(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """A `tradekit run` TOML file as (Config, its `[backtest]` table)."""
    from tradekit.config import ConfigError, load_config_dict

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    extra = data.pop("backtest", {})
    if not isinstance(extra, dict):
        raise ConfigError(str(path), ["backtest: expected a table"])
    unknown = set(extra) - {"balance", "maker_fee", "taker_fee", "entry", "sell_fills"}
    if unknown:
        raise ConfigError(str(path), [f"backtest.{k}: unknown key" for k in sorted(unknown)])
    return load_config_dict(data, str(path)), extra


def spec_from_config(
    config: object, product_id: str | None, product: ProductSpec | None, extra: dict[str, Any]
) -> BacktestSpec:
    from tradekit.config import Config, PairConfig, PullbackConfig

    if isinstance(config, Config):
        if product_id is None:
            pair = config.pairs[0]
        else:
            try:
                pair = config.pair(product_id)
            except KeyError:
                raise ValueError(f"the config has no pair {product_id}") from None
    elif isinstance(config, PairConfig):
        pair = config
    else:
        raise TypeError(
            "config_or_params: expected a BacktestSpec, a config file path, a Config, "
            f"a PairConfig or a dict of parameters, got {type(config).__name__}"
        )
    e = pair.entry
    if isinstance(e, PullbackConfig):
        entry = EntrySpec("pullback", e.offset_pct, pullback_pct=e.pullback_pct, window_ns=e.window)
    else:
        entry = EntrySpec("fixed_offset", e.offset_pct)
    if "entry" in extra:
        entry = _entry_from(extra["entry"])
    kwargs: dict[str, Any] = {}
    for name in ("balance", "maker_fee", "taker_fee"):
        if name in extra:
            kwargs[name] = to_decimal(extra[name], f"backtest.{name}")
    if "sell_fills" in extra:
        kwargs["sell_fills"] = extra["sell_fills"]
    # the live run's own mapping: trail, sizing, protection and sanity guards as it runs them
    params = pair.params(product or default_product(pair.product_id))
    return BacktestSpec.from_params(params, entry=entry, **kwargs)
