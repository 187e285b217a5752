"""The benchmark harness's figures: the median rate and the `--json` lines.

Never a timing assertion: the clock is the test's, and a real run is checked for the
shape of its lines only (names, units, numbers), not for its speed.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types

import pytest

from tradekit.bench import __main__ as bench_main
from tradekit.bench import figures
from tradekit.bench.figures import Figure, median_rate


class StepClock:
    """perf_counter that returns the next of the given times."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_median_rate_is_the_median_of_count_per_second(monkeypatch):
    # three runs of 8 items taking 1 s, 4 s and 2 s: 8/s, 2/s, 4/s; the median is 4/s
    monkeypatch.setattr(figures.time, "perf_counter", StepClock(0, 1, 10, 14, 20, 22))
    calls = []
    progress = io.StringIO()
    rate = median_rate(8, lambda: calls.append(1), 3, "items", progress)
    assert rate == 4
    assert len(calls) == 3
    assert progress.getvalue().splitlines() == [
        "  items: run 1/3: 8/s",
        "  items: run 2/3: 2/s",
        "  items: run 3/3: 4/s",
    ]


def test_median_rate_without_progress_writes_nothing(monkeypatch, capsys):
    monkeypatch.setattr(figures.time, "perf_counter", StepClock(0, 2))
    assert median_rate(10, lambda: None, 1, "x", None) == 5
    assert capsys.readouterr() == ("", "")


@pytest.fixture
def fake_bench(monkeypatch):
    """A benchmark of known figures, registered as `fake`."""
    seen: dict[str, object] = {}

    def run(ticks: int, repeat: int, progress: object) -> list[Figure]:
        seen.update(ticks=ticks, repeat=repeat, progress=progress)
        return [Figure("items_per_s", 1234567.25, "items/s"), Figure("items", 42, "items")]

    module = types.ModuleType("fake_bench_module")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_bench_module", module)
    monkeypatch.setitem(bench_main.BENCHES, "fake", "fake_bench_module")
    return seen


def test_json_prints_one_object_per_figure(fake_bench, capsys):
    assert bench_main.main(["fake", "--json", "--ticks", "500", "--repeat", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"bench": "fake", "figure": "items_per_s", "value": 1234567.25, "unit": "items/s"},
        {"bench": "fake", "figure": "items", "value": 42, "unit": "items"},
    ]
    # the figures alone on stdout: no progress is written with --json
    assert fake_bench == {"ticks": 500, "repeat": 2, "progress": None}


def test_without_json_a_table_for_people_and_progress_on_stderr(fake_bench, capsys):
    assert bench_main.main(["fake"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{'fake':8} {'items_per_s':28} {'1,234,567.2':>16} items/s",
        f"{'fake':8} {'items':28} {'42.0':>16} items",
    ]
    assert fake_bench["progress"] is sys.stderr
    assert fake_bench["ticks"] == 1_000_000


def test_an_unknown_benchmark_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench_main.main(["nope"])
    assert exit_.value.code == 2
    assert "core" in capsys.readouterr().err


def test_a_real_benchmark_prints_json_lines():
    # the core benchmark on a tiny path: the lines' shape, not the machine's speed
    args = ["core", "--json", "--ticks", "2000", "--repeat", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "tradekit.bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {r["figure"] for r in rows} == {
        "ratchet_ticks_per_s",
        "decision_events_per_s",
        "decision_events",
    }
    for r in rows:
        assert r["bench"] == "core"
        assert isinstance(r["value"], int | float) and r["value"] > 0
        assert r["unit"] in {"ticks/s", "events/s", "events"}
