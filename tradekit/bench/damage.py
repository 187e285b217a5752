"""The store damage matrix: damage a real store file in known ways, and see whether
tradekit finds it when the store opens, later on a read, or never (silent).

    python -m tradekit.bench.damage            # the matrix, one JSON row per kind

A store is made by the demo (the sync engine on the paper exchange: journal, orders,
fills, positions, stop moves, engine snapshots), closed (the WAL checkpointed into the
file), and copied once per trial; each copy is damaged on disk, byte by byte, as a disk
or a copy would damage it:

- `page-bit-flip`: one bit anywhere after the file header;
- `index-bit-flip`: one bit in the cell area of an index's page (a row that its table
  has and its index does not, or the other way);
- `snapshot-digit`, `journal-digit`, `order-digit`, `fill-digit`: one digit of a
  value changed to another digit in the row's bytes (the row still reads);
- `snapshot-json`: one `:` of an engine snapshot changed to `;` (broken JSON).

Each trial is then opened (`Store(path)`) and, if that succeeds, read through (every
table, every pair's snapshot). Outcomes: `at_open` (StoreError when opening), `later`
(StoreError on a read), `silent` (everything read, and something differs from the
undamaged store), `harmless` (everything read, nothing differs: the bit was in free
space), `raw` (any other exception: a bug). `untouched` says the file's bytes were the
same after the check as before it: nothing stored is changed by it.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradekit.store.sqlite import Store, StoreError

KINDS = (
    "page-bit-flip",
    "index-bit-flip",
    "snapshot-digit",
    "snapshot-json",
    "journal-digit",
    "order-digit",
    "fill-digit",
)
OUTCOMES = ("at_open", "later", "silent", "harmless", "raw")


def make_store(path: Path, ticks: int = 3000, seed: int = 1) -> None:
    """A real store: the demo's run, closed."""
    from tradekit.demo import run_demo

    run_demo(seed=seed, ticks=ticks, db=str(path), out=io.StringIO(), exchange="paper")
    conn = sqlite3.connect(path)  # at rest: no free pages holding old rows' bytes
    try:
        conn.execute("VACUUM")
    finally:
        conn.close()


def read_all(path: Path) -> Any:
    """Everything a run reads back from a store (raises what opening or reading raises)."""
    with Store(path) as s:
        return (
            s.meta_get("run_id"),
            [(p, s.load_engine_state(p)) for p in s.products()],
            s.journal_objects(),
            s.order_history(),
            [o.to_dict() if hasattr(o, "to_dict") else repr(o) for o in s.orders()],
            s.fills(),
            s.open_positions(),
            s.closed_positions(),
            s.stop_history(),
        )


def _pages(path: Path) -> tuple[int, dict[str, list[int]]]:
    """(page size, {"index": [page numbers], "table": [...]}) of a store's b-trees."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[16:18], "big")
    size = 65536 if size == 1 else size
    out: dict[str, list[int]] = {"index": [], "table": []}
    for n in range(1, len(raw) // size + 1):
        base = (n - 1) * size + (100 if n == 1 else 0)
        kind = raw[base]
        if kind in (2, 10):
            out["index"].append(n)
        elif kind in (5, 13):
            out["table"].append(n)
    return size, out


def _flip_bit(raw: bytearray, lo: int, hi: int, rng: random.Random) -> None:
    at = rng.randrange(lo, hi)
    raw[at] ^= 1 << rng.randrange(8)


def _change_digit(raw: bytearray, needle: bytes, rng: random.Random, tail: int = 0) -> bool:
    """Change one digit inside the one occurrence of `needle` (a row's bytes as stored;
    within its last `tail` bytes when given)."""
    at = raw.find(needle)
    if at < 0 or raw.find(needle, at + 1) >= 0:
        return False  # not found whole (across pages), or not one row's
    lo = at + len(needle) - tail if tail else at
    digits = [i for i in range(lo, at + len(needle)) if chr(raw[i]).isdigit()]
    if not digits:
        return False
    i = rng.choice(digits)
    raw[i] = ord(str((int(chr(raw[i])) + rng.randrange(1, 10)) % 10))
    return True


def _values(path: Path, sql: str) -> list[str]:
    return [r[0] for r in _rows(path, sql)]


def _rows(path: Path, sql: str) -> list[tuple[str, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(str(v) for v in r) for r in conn.execute(sql) if r[0] is not None]
    finally:
        conn.close()


def _damage(kind: str, path: Path, rng: random.Random) -> bool:
    """Damage the file at `path` in place; False when this store has nothing to damage."""
    raw = bytearray(path.read_bytes())
    size, pages = _pages(path)
    if kind == "page-bit-flip":
        _flip_bit(raw, 100, len(raw), rng)
    elif kind == "index-bit-flip":
        cells = {}  # index pages holding cells: where their cell area starts
        for n in pages["index"]:
            base = (n - 1) * size
            start = int.from_bytes(raw[base + 5 : base + 7], "big") or 65536
            if start < size:
                cells[n] = start
        if not cells:
            return False
        n = rng.choice(sorted(cells))
        _flip_bit(raw, (n - 1) * size + cells[n], n * size, rng)
    elif kind in ("snapshot-digit", "snapshot-json"):
        snapshots = _values(path, "SELECT snapshot FROM engine_state")
        if not snapshots:
            return False
        text = rng.choice(snapshots)
        if kind == "snapshot-digit":
            found = re.findall(r'"[a-z_]+":"?-?\d[\d.]{3,}', text)
            rng.shuffle(found)
            if not any(_change_digit(raw, f.encode(), rng) for f in found):
                return False
        else:
            keys = re.findall(r'"[a-z_]+":"?[\w.-]+', text)
            rng.shuffle(keys)
            for key in keys:
                needle = key.encode()
                at = raw.find(needle)
                if at >= 0 and raw.find(needle, at + 1) < 0:
                    raw[at + needle.index(b":")] = ord(";")
                    break
            else:
                return False
    else:
        # a row's text columns lie side by side in its record: the needle is one row's
        sql, digits_of = {
            "journal-digit": ("SELECT payload, payload FROM journal WHERE kind = 'event'", 0),
            "order-digit": (
                "SELECT client_order_id || product_id || order_id || side || order_type "
                "|| status || size || limit_price, size || limit_price FROM orders "
                "WHERE order_id IS NOT NULL",
                1,
            ),
            "fill-digit": (
                "SELECT client_order_id || trade_id || product_id || side || price || size "
                "|| fee, price || size || fee FROM fills",
                1,
            ),
        }[kind]
        rows = _rows(path, sql)
        rng.shuffle(rows)
        for needle, part in rows:
            tail = len(part.encode()) if digits_of else 0
            if _change_digit(raw, needle.encode(), rng, tail):
                break
        else:
            return False
    path.write_bytes(bytes(raw))
    return True


def trial(kind: str, base: Path, baseline: Any, work: Path, rng: random.Random) -> dict[str, Any]:
    """One damaged copy of `base`: its outcome, and whether the check changed the file."""
    path = work / f"{kind}.sqlite"
    shutil.copyfile(base, path)
    if not _damage(kind, path, rng):
        return {"outcome": None}
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    message = ""
    try:
        with Store(path):
            pass
    except StoreError as exc:
        outcome, message = "at_open", str(exc)
    except Exception as exc:
        outcome, message = "raw", f"{type(exc).__name__}: {exc}"
    else:
        try:
            outcome = "harmless" if read_all(path) == baseline else "silent"
        except StoreError as exc:
            outcome, message = "later", str(exc)
        except Exception as exc:
            outcome, message = "raw", f"{type(exc).__name__}: {exc}"
    untouched = hashlib.sha256(path.read_bytes()).hexdigest() == before
    for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        side.unlink(missing_ok=True)
    return {"outcome": outcome, "message": message, "untouched": untouched}


def matrix(
    trials: int = 20,
    seed: int = 7,
    ticks: int = 3000,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per kind of damage: trials made, and how many ended in each outcome."""
    rng = random.Random(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tradekit-damage-") as tmp:
        work = Path(tmp)
        base = work / "base.sqlite"
        make_store(base, ticks)
        baseline = read_all(base)
        for kind in KINDS:
            counts: Counter[str] = Counter()
            touched = 0
            examples: dict[str, str] = {}
            for _ in range(trials):
                result = trial(kind, base, baseline, work, rng)
                if result["outcome"] is None:
                    continue
                counts[result["outcome"]] += 1
                touched += not result["untouched"]
                examples.setdefault(result["outcome"], result["message"][:300])
            rows.append(
                {
                    "damage": kind,
                    "tried": sum(counts.values()),
                    **{o: counts[o] for o in OUTCOMES},
                    "changed_by_check": touched,
                    "examples": examples,
                }
            )
            if progress is not None:
                progress(kind)
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m tradekit.bench.damage")
    parser.add_argument("--trials", type=int, default=50, help="damaged copies per kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ticks", type=int, default=3000, help="the demo store's length")
    args = parser.parse_args(argv)
    rows = matrix(args.trials, args.seed, args.ticks)
    for row in rows:
        print(json.dumps(row), flush=True)
    return 1 if any(r["silent"] or r["raw"] or r["changed_by_check"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
