"""The paper exchange's journal: JSON lines, written before each change, replayed on start.

Persistence (`state_path`): a JSON-lines journal, Decimals as plain strings. Line 1 is
the configuration (`"op": "init"`, `"v": 2`: products, initial balances, fees, fill
model, sell fills, id seed). A version-1 header, written before `sell_fills` existed,
means `sell_fills="limit"`, the model it was written with: a journal never changes its
fill model on restart, and a constructor asking for another one is refused (an older
tradekit refuses a version-2 journal). Then one line per mutation: `place` (the new
order), `cancel` (its order id), `edit` (the order id, its new size, limit, stop and
crossing flag), `tick` (a trade that triggered or filled something: the trigger ids
and the fills) and `immediate` (an IOC / FOK order and its fills, one line: it is
placed, filled and finished at once).
Every line also carries `seq` (market_seq at that moment) and `last` (each product's
last trade price, ts and size; version 1 had no size). Each line is written, flushed
and fsync'd BEFORE the state changes in memory and before the call returns (a failed
write changes nothing and is cut off the file again). A trade that changes nothing
writes nothing, so a restored exchange's `market_seq` is the seq of the last mutation:
it may lag the feed, and the driver decides what to feed from there. Constructing a
PaperExchange on an existing journal replays it (the configuration must match;
`PaperExchange.restore(path)` takes it from the file). A truncated last line (a crash
mid-write; no final newline) is ignored and cut off; any other bad line raises
`PaperStateError` naming the file and the line.
One writer per journal: the file is locked (flock) while open, and a second
PaperExchange on it is refused until the first is closed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from tradekit.core.money import ProductSpec, plain
from tradekit.core.orders import OrderSide, OrderType
from tradekit.exchange.paper.orders import MAKER, TAKER, PaperOrder, StopDirection, TimeInForce
from tradekit.exchange.types import ExchangeError, Fill

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

JOURNAL_VERSION = 2
# Version 1 journals were written before `sell_fills` existed, when every sell filled at
# its limit: they replay with sell_fills="limit", so that a restart never changes the
# fill model a journal was written with. An older tradekit refuses version 2.
_V1_SELL_FILLS = "limit"

_T = TypeVar("_T")


class PaperStateError(ExchangeError):
    """The journal cannot be replayed (a corrupt line, a mismatched configuration)."""


class Bad(Exception):
    """A journal record that does not fit the state (turned into PaperStateError)."""


@dataclass(frozen=True, slots=True)
class Config:
    """What a paper exchange is made of: line 1 of its journal."""

    products: tuple[ProductSpec, ...]
    balances: tuple[tuple[str, Decimal], ...]
    maker_fee: Decimal
    taker_fee: Decimal
    fill_model: str
    sell_fills: str
    id_seed: str

    def to_record(self) -> dict[str, Any]:
        return {
            "op": "init",
            "v": JOURNAL_VERSION,
            "products": [_spec_record(p) for p in self.products],
            "balances": {cur: plain(amount) for cur, amount in self.balances},
            "maker_fee": plain(self.maker_fee),
            "taker_fee": plain(self.taker_fee),
            "fill_model": self.fill_model,
            "sell_fills": self.sell_fills,
            "id_seed": self.id_seed,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Config:
        if rec.get("op") != "init":
            raise Bad("the first line is not the configuration (op 'init')")
        version = rec.get("v")
        if version not in (1, JOURNAL_VERSION):
            raise Bad(f"journal version {version!r}, expected 1 or {JOURNAL_VERSION}")
        return cls(
            products=tuple(ProductSpec.from_dict(p) for p in rec["products"]),
            balances=tuple((str(c), dec(a)) for c, a in rec["balances"].items()),
            maker_fee=dec(rec["maker_fee"]),
            taker_fee=dec(rec["taker_fee"]),
            fill_model=str(rec["fill_model"]),
            sell_fills=_V1_SELL_FILLS if version == 1 else str(rec["sell_fills"]),
            id_seed=str(rec["id_seed"]),
        )

    def differences(self, other: Config) -> list[str]:
        out = []
        names = ("products", "balances", "maker_fee", "taker_fee", "fill_model", "sell_fills")
        for name in (*names, "id_seed"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: journal has {mine!r}, constructor has {theirs!r}")
        return out


def _spec_record(spec: ProductSpec) -> dict[str, str | None]:
    return {
        key: value if key == "product_id" or value is None else plain(Decimal(value))
        for key, value in spec.to_dict().items()
    }


def dec(value: object) -> Decimal:
    """A journal's decimal string as a finite Decimal (anything else is a bad record)."""
    if not isinstance(value, str):
        raise Bad(f"expected a decimal string, got {value!r}")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise Bad(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise Bad(f"{value!r} is not a finite number")
    return result


def opt_dec(value: object) -> Decimal | None:
    return None if value is None else dec(value)


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise Bad(f"{name} {value!r}")
    return value


def fill_record(f: Fill) -> dict[str, Any]:
    return {
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "product_id": f.product_id,
        "side": f.side.value,
        "price": plain(f.price),
        "size": plain(f.size),
        "commission": plain(f.commission),
        "ts": f.ts,
        "liquidity": f.liquidity,
    }


def fill_from_record(d: dict[str, Any]) -> Fill:
    liquidity = d["liquidity"]
    if liquidity not in (MAKER, TAKER):
        raise Bad(f"liquidity {liquidity!r}")
    return Fill(
        trade_id=str(d["trade_id"]),
        order_id=str(d["order_id"]),
        client_order_id=str(d["client_order_id"]),
        product_id=str(d["product_id"]),
        side=OrderSide(d["side"]),
        price=dec(d["price"]),
        size=dec(d["size"]),
        commission=dec(d["commission"]),
        ts=int(d["ts"]),
        liquidity=liquidity,
    )


def order_record(o: PaperOrder) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "product_id": o.product_id,
        "side": o.side.value,
        "order_type": o.order_type.value,
        "size": plain(o.size),
        "limit_price": plain(o.limit_price),
        "stop_price": None if o.stop_price is None else plain(o.stop_price),
        "created_ts": o.created_ts,
        "crossing": o.crossing,
        "stop_direction": o.stop_direction,
        "time_in_force": o.time_in_force,
        "market": o.market,
        "quote_size": None if o.quote_size is None else plain(o.quote_size),
    }


def order_from_record(d: dict[str, Any], n: int) -> PaperOrder:
    """An order of a `place` or `immediate` line (a version-1 line has no stop direction,
    time in force, market flag or quote size: it was a GTC limit or a STOP_DOWN stop)."""
    stop = opt_dec(d["stop_price"])
    direction = d.get("stop_direction", None if stop is None else StopDirection.STOP_DOWN)
    if direction not in (None, StopDirection.STOP_DOWN, StopDirection.STOP_UP):
        raise Bad(f"stop_direction {direction!r}")
    tif = d.get("time_in_force", TimeInForce.GTC)
    if tif not in (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK):
        raise Bad(f"time_in_force {tif!r}")
    return PaperOrder(
        n=n,
        order_id=str(d["order_id"]),
        client_order_id=str(d["client_order_id"]),
        product_id=str(d["product_id"]),
        side=OrderSide(d["side"]),
        order_type=OrderType(d["order_type"]),
        size=dec(d["size"]),
        limit_price=dec(d["limit_price"]),
        stop_price=stop,
        created_ts=int(d["created_ts"]),
        crossing=flag(d["crossing"], "crossing"),
        stop_direction=direction,
        time_in_force=tif,
        market=flag(d.get("market", False), "market"),
        quote_size=opt_dec(d.get("quote_size")),
    )


class Journal:
    """One open journal file: locked, replayed into `apply` line by line, appended to."""

    def __init__(self, path: Path, config: Config, apply: Callable[[dict[str, Any]], None]):
        exists = path.exists()
        log = open(path, "r+b" if exists else "w+b")  # noqa: SIM115
        try:
            _lock(log, path)
            lines = _split_lines(log.read())
            keep = sum(len(line) + 1 for line in lines)
            if lines:
                header = wrap(path, 1, lambda: Config.from_record(parse(lines[0])))
                diff = header.differences(config)
                if diff:
                    raise PaperStateError(
                        f"{path}: the journal was written with another configuration: "
                        + "; ".join(diff)
                    )
                for lineno, line in enumerate(lines[1:], start=2):
                    wrap(path, lineno, partial(lambda raw: apply(parse(raw)), line))
            log.truncate(keep)  # drop a torn last line
            log.seek(keep)
        except BaseException:
            log.close()
            raise
        self.path = path
        self._log: BinaryIO | None = log
        self._size = keep
        if not lines:  # a new journal: the configuration, at market position zero
            self.append(config.to_record() | {"seq": 0, "last": {}})
            if not exists:
                _fsync_dir(path.parent)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and make it durable; on failure the file is as it was."""
        log = self._log
        if log is None:
            return
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            log.write(data)
            log.flush()
            os.fsync(log.fileno())
        except BaseException:
            # Nothing changed in memory: cut the half-written line off the file too.
            try:
                log.seek(self._size)
                log.truncate(self._size)
            except OSError:
                pass
            raise
        self._size += len(data)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def read_config(path: Path) -> Config:
    """The configuration a journal was written with (its line 1)."""
    lines = _read_lines(path)
    if not lines:
        raise PaperStateError(f"{path}: no journal to restore from")
    return wrap(path, 1, lambda: Config.from_record(parse(lines[0])))


def _read_lines(path: Path) -> list[bytes]:
    try:
        return _split_lines(path.read_bytes())
    except FileNotFoundError:
        return []


def _split_lines(data: bytes) -> list[bytes]:
    """The journal's complete lines (a torn last line, without its newline, is dropped)."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or a torn line
    return lines


def _lock(log: BinaryIO, path: Path) -> None:
    """One writer per journal: a second PaperExchange on the same file is refused."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PaperStateError(
            f"{path}: the journal is in use by another PaperExchange (close that one first)"
        ) from None


def parse(line: bytes) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Bad(f"not JSON ({e})") from None
    if not isinstance(rec, dict):
        raise Bad("not a JSON object")
    return rec


def wrap(path: Path, lineno: int, fn: Callable[[], _T]) -> _T:
    """Run `fn` on one journal line; any problem is a PaperStateError naming file:line."""
    try:
        return fn()
    except PaperStateError:
        raise
    except (Bad, KeyError, TypeError, ValueError, ArithmeticError, AssertionError) as e:
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise PaperStateError(f"{path}:{lineno}: corrupt journal line: {detail}") from e


def _fsync_dir(directory: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
