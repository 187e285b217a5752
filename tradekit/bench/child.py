"""Start a benchmark server (tradekit.bench.servers) as a child process and wait for it."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def child_server(*args: str, timeout_s: float = 30.0) -> Iterator[list[str]]:
    """Yields what the server wrote to its port file, split on spaces."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        cmd = [sys.executable, "-m", "tradekit.bench.servers", *args, str(port_file)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        try:
            deadline = time.monotonic() + timeout_s
            while not port_file.exists() or not port_file.read_text().strip():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"benchmark server {args[0]} did not start")
                time.sleep(0.05)
            time.sleep(0.05)
            yield port_file.read_text().split()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()
            proc.wait(timeout=10)
