import hashlib
import io
import subprocess
import sys

from tradekit.cli import main
from tradekit.demo import run_demo


def test_demo_is_deterministic_and_summarises_the_run():
    a, b = io.StringIO(), io.StringIO()
    first = run_demo(seed=5, ticks=6000, out=a)
    run_demo(seed=5, ticks=6000, out=b)
    assert a.getvalue() == b.getvalue()
    assert "realized P&L" in a.getvalue() and "stop moves" in a.getvalue()
    assert first["stop_moves"] > 0
    other = io.StringIO()
    run_demo(seed=6, ticks=6000, out=other)
    assert other.getvalue() != a.getvalue()


def test_cli_demo_runs_as_a_command(tmp_path):
    db = tmp_path / "demo.sqlite"
    cmd = [sys.executable, "-m", "tradekit.cli", "demo", "--seed", "2", "--ticks", "3000"]
    proc = subprocess.run(
        [*cmd, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("tradekit demo: BTC-USD, seed 2")
    assert db.exists()


def test_a_foreign_database_is_refused_in_one_line_and_left_alone(tmp_path, capsys):
    db = tmp_path / "not-ours.sqlite"
    db.write_bytes(b"this is not a database at all" * 100)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert main(["demo", "--ticks", "100", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tradekit: error:") and str(db) in err
    assert len(err.strip().splitlines()) == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_demo_on_the_simulator_matches_the_paper_demo(tmp_path):
    """The generated sync Coinbase adapter over real sockets, against tradekit sim,
    gives exactly the paper exchange's result."""
    sim_out, paper_out = io.StringIO(), io.StringIO()
    db = tmp_path / "sim.sqlite"
    on_sim = run_demo(seed=7, ticks=2000, out=sim_out, exchange="sim", db=str(db))
    run_demo(seed=7, ticks=2000, out=paper_out)
    assert sim_out.getvalue() == paper_out.getvalue()
    assert on_sim["stop_moves"] > 0
    # the canary: the simulator's key never reaches the store
    data = db.read_bytes() + (
        db.with_name(db.name + "-wal").read_bytes()
        if db.with_name(db.name + "-wal").exists()
        else b""
    )
    assert b"PRIVATE KEY" not in data and b"privateKey" not in data


def test_sim_serve_takes_faults_as_flags(tmp_path):
    """`tradekit sim serve --fault NAME=VALUE` starts with the fault on (seen on the
    admin API), and an unknown fault is refused in one line."""
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "tradekit.cli", "sim", "serve", "--port", str(port)]
    cmd += ["--keys-file", str(tmp_path / "k.json"), "--no-market"]
    proc = subprocess.Popen(
        [*cmd, "--fault", "rest_error_rate=0.25", "--fault", 'only="POST /orders"'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                token = (tmp_path / "k.json.admin-token").read_text().strip()
                r = httpx.get(
                    f"http://127.0.0.1:{port}/sim/admin/faults",
                    headers={"X-Tradekit-Admin-Token": token},  # written beside the key file
                    timeout=1,
                )
                break
            except (httpx.TransportError, FileNotFoundError):
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                time.sleep(0.1)
        faults = r.json()
        assert faults["rest_error_rate"] == 0.25 and faults["only"] == "POST /orders"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([*cmd, "--fault", "meteor=1"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "meteor" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_error_hints_say_what_to_do(tmp_path, capsys):
    import socket

    # a --data that is neither a file nor seed:SEED names the seed form
    assert main(["backtest", "examples/portfolio.toml", "--data", "seed7"]) == 2
    err = capsys.readouterr().err
    assert "seed7: no such file" in err and "seed:SEED[:TICKS]" in err
    # a server that does not answer: the address, and what to check
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}"
    args = ["candles", "BTC-USD", "--start", "2024-01-01", "--end", "2024-01-01T01:00"]
    # the exchange failed, not the config: exit 75 (start again later), and the hint
    assert main([*args, "--base-url", url, "--no-cache"]) == 75
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("tradekit: exchange error") and f"cannot reach {url}" in err
