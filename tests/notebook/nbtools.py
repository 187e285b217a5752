"""Shared helpers of the notebook-layer tests (no __init__.py: imported by name)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
IN_CI = bool(os.environ.get("CI"))


def require(*modules: str) -> None:
    """Import the notebook extra's modules: skip when missing, but fail in CI (where
    `make test` installs them, so a missing one is a broken set-up, not a choice)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            message = f"{name} is not installed ({exc}); install the notebook extra"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


class FakeClock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def demo_engine(seed: int = 7, ticks: int = 20_000, run_id: str = "t"):
    from tradekit.demo import DemoSetup
    from tradekit.store.sqlite import Store

    setup = DemoSetup(seed=seed, ticks=ticks)
    return setup, setup.engine(Store(":memory:"), setup.exchange(), run_id)
