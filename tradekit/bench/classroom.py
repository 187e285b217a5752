"""`classroom`: a class of 30 students trading on one simulator at 10x.

`tradekit sim serve --roster 30 --keys-dir DIR --speed 10x` runs in a child process (as a
class would run it); 30 client threads here, one per student key, each trade with
tradekit's own REST adapter as a student's loop would: read the last trade, place a
limit buy, rest a stop under it, look both up, move the stop (cancel, then place),
cancel what is left, again and again for `SECONDS`.

- classroom_students: the roster size (30);
- classroom_p99_ms: the simulator's p99 time to handle a student request (from the
  request's arrival to its answer, measured by the simulator itself; target <= 50);
- classroom_client_p99_ms: the p99 of the price reads and order lookups as the students'
  clients saw them (their JWT signing, pacing and 30 threads on one GIL included);
- classroom_requests_per_s: the students' requests the simulator served per second.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import httpx

from tradekit.bench.figures import Figure

STUDENTS = 30
SECONDS = 10.0
PID = "BTC-USD"


def _student(rest: object, base: str, n: int, until: float, seen: list[float]) -> None:
    """One student's loop: read the price, buy, protect, look both up, cancel."""
    from tradekit.exchange.coinbase import CoinbaseRest

    assert isinstance(rest, CoinbaseRest)
    cent = Decimal("0.01")
    k = 0
    # the price from public market data, over a connection of its own: tradekit's adapter
    # paces public calls per host for the whole process (Coinbase's limit is per IP), and
    # here 30 students share one process where a class has 30 kernels
    with httpx.Client(base_url=f"{base}/api/v3/brokerage") as public:
        while time.monotonic() < until:
            k += 1
            t0 = time.perf_counter()
            reply = public.get(f"/market/products/{PID}/ticker", params={"limit": "1"})
            seen.append(time.perf_counter() - t0)
            reply.raise_for_status()
            last = Decimal(reply.json()["trades"][0]["price"])
            stop, limit, low = (last * Decimal(x) for x in ("0.97", "0.96", "0.98"))
            placed = [
                rest.place_limit_buy(f"b{n}-{k}", PID, Decimal("0.0001"), low.quantize(cent)),
                rest.place_stop_limit(
                    f"s{n}-{k}", PID, Decimal("0.0001"), stop.quantize(cent), limit.quantize(cent)
                ),
            ]
            for res in placed:
                if res.success and res.order_id:
                    t0 = time.perf_counter()
                    rest.get_order(res.order_id)
                    seen.append(time.perf_counter() - t0)
                    rest.cancel_order(res.order_id)


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    from tradekit.exchange.coinbase import CoinbaseRest
    from tradekit.exchange.coinbase.credentials import Credentials
    from tradekit.sim.admin import ADMIN_TOKEN_HEADER

    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys"
        cmd = [sys.executable, "-m", "tradekit.cli", "sim", "serve", "--roster", str(STUDENTS)]
        cmd += ["--keys-dir", str(keys), "--port", "0", "--speed", "10x"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            base = ""
            for line in proc.stdout:
                if " on http://" in line:
                    base = line.split(" on ", 1)[1].split()[0]
                if line.startswith("Ctrl-C stops."):
                    break
            if not base:
                raise RuntimeError("the classroom simulator did not start")
            token = (keys / "moderator-token").read_text().strip()
            clients = [
                CoinbaseRest(Credentials.from_file(keys / f"student-{i:02d}.json"), base)
                for i in range(1, STUDENTS + 1)
            ]
            if progress is not None:
                progress.write(f"classroom: {STUDENTS} students for {SECONDS:.0f} s at 10x\n")
            seen: list[float] = []
            until = time.monotonic() + SECONDS
            t0 = time.perf_counter()
            threads = [
                threading.Thread(target=_student, args=(c, base, n, until, seen))
                for n, c in enumerate(clients)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            state = httpx.get(
                f"{base}/sim/classroom/state", headers={ADMIN_TOKEN_HEADER: token}
            ).json()
            for c in clients:
                c.close()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    latency = state["latency_ms"]
    client_p99 = statistics.quantiles(seen, n=100)[98] * 1000 if len(seen) > 100 else 0.0
    return [
        Figure("classroom_students", state["students"], "students"),
        Figure("classroom_p99_ms", latency["p99"], "ms"),
        Figure("classroom_p50_ms", latency["p50"], "ms"),
        Figure("classroom_client_p99_ms", round(client_p99, 2), "ms"),
        Figure("classroom_requests_per_s", round(latency["count"] / elapsed), "requests/s"),
    ]
