"""Typed, validated settings: TOML file + environment overrides -> core parameters.

A bad file gets ONE `ConfigError` that lists every bad field with its path and the
reason; nothing starts. TOML numbers are read as exact Decimals (`parse_float=Decimal`),
so `trail_pct = 0.02` means exactly 0.02. Unknown keys are errors (a typo must not be
silently ignored when money is at stake).

Environment overrides: `TRADEKIT__<SECTION>__<KEY>=value`, nested with `__`; a pair is
addressed by its product id with `-` written `_`:

    TRADEKIT__PORTFOLIO__MAX_OPEN_POSITIONS=2
    TRADEKIT__PAIRS__BTC_USD__TRAIL_PCT=0.03
    TRADEKIT__PAIRS__BTC_USD__ENTRY__OFFSET_PCT=0.002

pydantic is imported here only; `import tradekit` does not pay for it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from tradekit import jsonl
from tradekit.core.decision import PairParams
from tradekit.core.entry import EntryRule, FixedOffsetEntry, PullbackEntry
from tradekit.core.money import ProductSpec
from tradekit.core.position import TrailParams
from tradekit.core.protection import ProtectionParams
from tradekit.core.sanity import SanityParams

ENV_PREFIX = "TRADEKIT__"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}


class ConfigError(ValueError):
    """Every problem of one configuration, each with its path, in one message."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        n = len(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {n} problem{'s' if n != 1 else ''}:\n{lines}")


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(f"floats are not exact; write {value!r} as a string or TOML number")
    return value


def duration_ns(value: Any) -> Any:
    """Seconds as a number, or a string with a unit: "90s", "5m", "1h", "250ms"."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        seconds = Decimal(value)
        if not seconds.is_finite() or seconds > _MAX_DURATION_NS // 10**9:
            raise ValueError(f"{value} seconds is not a duration of at most a year")
        return int(seconds * 10**9)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration such as '90s', '5m' or '1h'")
        ns = int(Decimal(m.group(1)) * _UNIT_NS[m.group(2) or "s"])
        if ns > _MAX_DURATION_NS:
            raise ValueError(f"{value!r} is longer than a year")
        return ns
    return value


Money = Annotated[Decimal, BeforeValidator(_no_float)]


def _off(value: Any) -> Any:
    """A guard that is on by default is turned off with the string "off"."""
    return None if value == "off" else value


Guard = Annotated[
    Annotated[Decimal, Field(gt=0)] | None, BeforeValidator(_no_float), BeforeValidator(_off)
]
BandGuard = Annotated[
    Annotated[Decimal, Field(gt=0, lt=1)] | None,
    BeforeValidator(_no_float),
    BeforeValidator(_off),
]
Fraction = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, lt=1)]
DurationNs = Annotated[int, BeforeValidator(duration_ns), BeforeValidator(_no_float), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedOffsetConfig(_Strict):
    rule: Literal["fixed_offset"]
    offset_pct: Fraction = Decimal("0.001")


class PullbackConfig(_Strict):
    rule: Literal["pullback"]
    pullback_pct: Annotated[Decimal, BeforeValidator(_no_float), Field(gt=0, lt=1)]
    window: DurationNs = 3600 * 10**9
    offset_pct: Fraction = Decimal(0)


EntryConfig = Annotated[FixedOffsetConfig | PullbackConfig, Field(discriminator="rule")]


# A pair's protection and sanity settings by their config names: each sets one field of
# the core's ProtectionParams (as named here) or SanityParams (the same name).
PROTECTION_SETTINGS = {
    "on_breach": "on_breach",
    "exit_reprice_after": "exit_reprice_ns",
    "gap_exit_after": "gap_exit_after_ns",
    "gap_exit_after_trades": "gap_exit_after_trades",
}
SANITY_SETTINGS = {
    "print_band_pct": "print_band_pct",
    "confirm_trades": "confirm_trades",
    "confirm_value": "confirm_value",
    "confirm_after": "confirm_after_ns",
    "max_order_value": "max_order_value",
    "max_order_size": "max_order_size",
    "order_price_band_pct": "order_price_band_pct",
}
GUARD_SETTINGS = (*PROTECTION_SETTINGS, *SANITY_SETTINGS)


class PairGuards(_Strict):
    """What a pair does when a stop cannot do its job, and its sanity guards: part of
    every pair's config, and what a backtest of that config applies too (one place for
    their names, defaults and validation)."""

    # When a stop cannot rest (the market is already under it) or a triggered stop was
    # gapped through: "exit" sells with a marketable limit (the default), "wait" waits
    # for the price to come back above the trigger, unprotected, and says so.
    on_breach: Literal["exit", "wait"] = "exit"
    exit_reprice_after: DurationNs = 5 * 10**9  # an unfilled exit follows the market
    gap_exit_after: DurationNs = 10 * 10**9  # a triggered stop gapped under its limit ...
    gap_exit_after_trades: Annotated[int, Field(ge=1, le=1_000_000)] = 3  # ... or trades
    # Sanity guards (tradekit.core.sanity), on by default for a portfolio; "off" to drop.
    print_band_pct: BandGuard = Decimal("0.05")  # a print this far from recent trades ...
    confirm_trades: Annotated[int, Field(ge=1, le=1000)] = 3  # ... waits for confirmation:
    confirm_value: Guard = Decimal("1000")  # ... prints worth this much (quote) in all
    confirm_after: DurationNs = 2 * 10**9  # ... over this much market time
    max_order_value: Guard = Decimal("25000")  # quote currency, one entry
    max_order_size: Guard = None  # base currency, one entry
    order_price_band_pct: BandGuard = Decimal("0.05")  # an entry's limit vs the last trade

    def guard_params(
        self,
        names: Iterable[str] = GUARD_SETTINGS,
        protection: ProtectionParams | None = None,
        sanity: SanityParams | None = None,
    ) -> tuple[ProtectionParams, SanityParams]:
        """The core's parameters with the settings `names` taken from here (the rest
        from `protection` and `sanity`, by default the core's own defaults)."""
        chosen = set(names)
        return (
            dataclasses.replace(
                protection or ProtectionParams(),
                **{
                    field: getattr(self, name)
                    for name, field in PROTECTION_SETTINGS.items()
                    if name in chosen
                },
            ),
            dataclasses.replace(
                sanity or SanityParams(),
                **{
                    field: getattr(self, name)
                    for name, field in SANITY_SETTINGS.items()
                    if name in chosen
                },
            ),
        )


def apply_guards(
    settings: Mapping[str, Any],
    protection: ProtectionParams | None = None,
    sanity: SanityParams | None = None,
    source: str = "<settings>",
) -> tuple[ProtectionParams, SanityParams]:
    """Some of a pair's protection and sanity settings (config names, config
    validation, e.g. `{"print_band_pct": "0.02", "on_breach": "wait"}`) put into the
    core's parameters; those not given stay as in `protection` and `sanity` (default:
    the core's, every guard off). A bad value raises ConfigError naming each key."""
    data = dict(settings)
    unknown = sorted(set(data) - set(GUARD_SETTINGS))
    problems = [f"{k}: not a protection or sanity setting" for k in unknown]
    problems += _out_of_range(data, (), data)
    if problems:
        raise ConfigError(source, problems)
    try:
        guards = PairGuards.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc, data)) from None
    return guards.guard_params(data, protection, sanity)


class PairConfig(PairGuards):
    product_id: Annotated[str, Field(pattern=r"^[A-Z0-9]+-[A-Z0-9]+$")]
    entry: EntryConfig = FixedOffsetConfig(rule="fixed_offset")
    size: Annotated[Money | None, Field(gt=0)] = None
    quote_budget: Annotated[Money | None, Field(gt=0, validate_default=True)] = None
    trail_pct: Annotated[Decimal, BeforeValidator(_no_float), Field(gt=0, lt=1)]
    stop_limit_buffer_pct: Fraction = Decimal("0.005")
    min_ratchet: Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0)] = Decimal(0)
    max_entry_wait: DurationNs = 300 * 10**9
    # on_breach ... order_price_band_pct: PairGuards

    @field_validator("quote_budget")
    @classmethod
    def _one_size(cls, budget: Decimal | None, info: ValidationInfo) -> Decimal | None:
        # A field validator (not a model one) so that this shows beside other field errors.
        if "size" in info.data and (info.data["size"] is None) == (budget is None):
            raise ValueError("give exactly one of 'size' (base) and 'quote_budget' (quote)")
        return budget

    def entry_rule(self) -> EntryRule:
        e = self.entry
        if isinstance(e, PullbackConfig):
            return PullbackEntry(e.pullback_pct, e.window, e.offset_pct)
        return FixedOffsetEntry(e.offset_pct)

    def params(self, product: ProductSpec) -> PairParams:
        """Core parameters for this pair on a product whose increments are known."""
        if product.product_id != self.product_id:
            raise ValueError(f"product {product.product_id} is not {self.product_id}")
        protection, sanity = self.guard_params()
        return PairParams(
            product=product,
            trail=TrailParams(self.trail_pct, self.stop_limit_buffer_pct, self.min_ratchet),
            max_entry_wait_ns=self.max_entry_wait,
            size=self.size,
            quote_budget=self.quote_budget,
            protection=protection,
            sanity=sanity,
        )


class PortfolioConfig(_Strict):
    max_open_positions: Annotated[int, Field(ge=1)] = 5
    max_quote_exposure: Annotated[Money | None, Field(gt=0)] = None
    max_quote_exposure_per_pair: Annotated[Money | None, Field(gt=0)] = None
    daily_loss_limit: Annotated[Money | None, Field(gt=0)] = None
    # a trade older than this by the local clock when received is not decided on
    max_trade_age: DurationNs = 5 * 10**9


def _url(schemes: tuple[str, ...]) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, str):
            scheme, sep, rest = value.partition("://")
            if not sep or scheme not in schemes or not rest.strip("/"):
                raise ValueError(f"{value!r} is not a {' or '.join(schemes)} URL")
            return value.rstrip("/")
        return value

    return BeforeValidator(check)


RestUrl = Annotated[str, _url(("https", "http"))]
WsUrl = Annotated[str, _url(("wss", "ws"))]


class ExchangeConfig(_Strict):
    """Where a run trades. `sim`: tradekit sim's seeded market (the default). `paper`:
    Coinbase's live public market (public WebSocket channels and public REST, no key),
    orders on the in-process paper exchange with `paper_balances`. `coinbase`: live,
    with real keys and `--live`."""

    kind: Literal["paper", "sim", "coinbase"] = "sim"
    keys_file: str | None = None  # a CDP key file; required for kind = "coinbase"
    # move a stop by editing it in place (no unprotected moment) where the exchange
    # allows it; an edit refused as unsupported falls back to cancel-then-place for that
    # product from then on (`tradekit check --live` tells in advance)
    edit_stops: bool = True
    # the public market paper trading reads (settings, so that a test or a rehearsal
    # can point it at tradekit sim); no key is ever sent there
    market_rest_url: RestUrl = "https://api.coinbase.com"
    market_ws_url: WsUrl = "wss://advanced-trade-ws.coinbase.com"
    market_ca_file: str | None = None  # a CA to trust for them (tradekit sim --tls)
    # what the paper exchange starts with (a resumed run keeps its own)
    paper_balances: dict[
        Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")], Annotated[Money, Field(ge=0)]
    ] = Field(default_factory=lambda: {"USD": Decimal("10000"), "USDC": Decimal("10000")})


class Config(_Strict):
    exchange: ExchangeConfig = ExchangeConfig()
    portfolio: PortfolioConfig = PortfolioConfig()
    pairs: Annotated[list[PairConfig], Field(min_length=1)]

    @field_validator("pairs")
    @classmethod
    def _unique_pairs(cls, pairs: list[PairConfig]) -> list[PairConfig]:
        seen: set[str] = set()
        for p in pairs:
            if p.product_id in seen:
                raise ValueError(f"{p.product_id} is listed twice")
            seen.add(p.product_id)
        return pairs

    def pair(self, product_id: str) -> PairConfig:
        for p in self.pairs:
            if p.product_id == product_id:
                return p
        raise KeyError(product_id)


def _env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    for key, value in sorted(environ.items()):
        if not key.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if len(path) >= 3 and path[0] == "pairs":
            product = path[1].upper().replace("_", "-")
            pairs = data.setdefault("pairs", [])
            target = next((p for p in pairs if p.get("product_id") == product), None)
            if target is None:
                target = {"product_id": product}
                pairs.append(target)
            node: dict[str, Any] = target
            path = path[2:]
        else:
            node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return data


def _format_loc(loc: tuple[Any, ...], data: Any) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and part < len(node) and isinstance(node[part], dict):
                pid = node[part].get("product_id")
                label = f"[{part}]" + (f" ({pid})" if pid else "")
            out += label
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            if part in ("fixed_offset", "pullback"):  # the discriminated union's tag
                continue
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def load_config_dict(
    data: dict[str, Any], source: str = "<config>", environ: Mapping[str, str] | None = None
) -> Config:
    """Validate a parsed config (with environment overrides applied)."""
    if _depth(data) > MAX_DEPTH:  # before anything walks it recursively
        raise ConfigError(source, [_too_deep(_depth(data))])
    data = _env_overrides(data, os.environ if environ is None else environ)
    problems = _out_of_range(data, (), data)
    if problems:  # before pydantic: a monstrous number must not cost time or memory
        raise ConfigError(source, problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc, data)) from None
    return config


def _problems(exc: ValidationError, data: Any) -> list[str]:
    """One line per validation error: where (as the user wrote it), what, and the value."""
    problems = []
    for err in exc.errors(include_url=False):
        where = _format_loc(tuple(err["loc"]), data)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "less_than" and err.get("ctx", {}).get("lt") == 1:
            msg += ": it is a fraction (0.03 means 3%)"
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        problems.append(f"{where}: {msg}{shown}")
    return problems


# Numbers a config may hold at all are those money can take (`tradekit.jsonl.number`:
# finite, at most 40 digits, 1e-18 to below 1e16); durations at most a year. Anything
# else is a typo or an attack, refused before pydantic spends time on it.
_MAX_TEXT = 256
_MAX_DURATION_NS = 366 * 86400 * 10**9


def _out_of_range(data: Any, where: tuple[Any, ...], root: Any) -> list[str]:
    problems: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            problems += _out_of_range(value, (*where, key), root)
        return problems
    if isinstance(data, list):
        for i, value in enumerate(data):
            problems += _out_of_range(value, (*where, i), root)
        return problems
    number: str | Decimal | None = None
    if isinstance(data, str):
        if len(data) > _MAX_TEXT:
            return [f"{_format_loc(where, root)}: a value of {len(data)} characters is too long"]
        if _NUMBERISH.match(data):
            number = data.strip()
    elif isinstance(data, Decimal):
        number = data
    elif isinstance(data, int) and not isinstance(data, bool):
        number = Decimal(data) if data.bit_length() < 200 else Decimal("1E+99")
    if number is None or (isinstance(number, Decimal) and not number.is_finite()):
        return problems  # not a number (or NaN/inf: the field's own check names it)
    try:
        jsonl.number(number)
    except ValueError as exc:
        problems.append(f"{_format_loc(where, root)}: {exc}")
    return problems


_NUMBERISH = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML config file; raises ConfigError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    except RecursionError:  # the parser recurses per level: hundreds of them end it
        raise ConfigError(str(p), [_too_deep()]) from None
    return load_config_dict(data, str(p), environ)


MAX_DEPTH = 16  # levels of tables and arrays; a real config has four


def _too_deep(depth: int | None = None) -> str:
    found = "hundreds of levels" if depth is None else f"{depth} levels"
    return f"nested {found} deep: a config has at most {MAX_DEPTH} levels of tables and arrays"


def _depth(data: Any) -> int:
    """How deep tables and arrays nest (iterative: no recursion on hostile input)."""
    deepest = 0
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return depth
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest
