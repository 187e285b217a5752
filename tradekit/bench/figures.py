"""A benchmark figure and the timing helper every benchmark uses."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str


def median_rate(
    count: int, work: Callable[[], object], repeat: int, label: str, progress: TextIO | None
) -> float:
    """Run `work` `repeat` times; the median of count/seconds."""
    rates = []
    for i in range(repeat):
        t0 = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - t0))
        if progress is not None:
            progress.write(f"  {label}: run {i + 1}/{repeat}: {rates[-1]:,.0f}/s\n")
    return statistics.median(rates)
