"""The paper exchange's journal: every mutation durable, a restart restores it exactly."""

from __future__ import annotations

import json
import os
from decimal import Decimal as D
from pathlib import Path

import pytest
from helpers.paperhelp import trade

from tradekit.core.orders import OrderStatus
from tradekit.exchange.paper import PaperExchange, PaperStateError

CONFIG = {"balances": {"USD": D("10000"), "BTC": D("1")}, "fill_model": "trade_size"}


def make(path: Path | None) -> PaperExchange:
    return PaperExchange(state_path=path, **CONFIG)  # type: ignore[arg-type]


def scenario_a(ex: PaperExchange) -> None:
    """Placements, a trigger, a gap, partial fills, cancels, a refusal, quiet ticks."""
    ex.advance(trade("100.00", ts=1))
    ex.advance(trade("2000.00", product="ETH-USD", ts=2))
    buy = ex.place_limit_buy("b1", "BTC-USD", D("2"), D("95.00"))
    ex.place_limit_buy("b2", "ETH-USD", D("0.5"), D("1900.00"))
    ex.place_stop_limit("s1", "BTC-USD", D("1"), D("90.00"), D("89.00"))
    ex.place_stop_limit("s2", "BTC-USD", D("1"), D("90.00"), D("89.00"))  # refused: held
    ex.advance(trade("99.00", ts=3))  # quiet
    ex.advance(trade("95.00", size="0.5", ts=4))  # partial buy
    ex.advance(trade("88.00", size="0.1", ts=5))  # buy partial, stop triggers, gaps
    ex.cancel_order(buy.order_id)
    ex.advance(trade("89.50", size="0.4", ts=6))  # the triggered stop fills in part


def scenario_b(ex: PaperExchange) -> None:
    ex.advance(trade("96.00", ts=7))  # quiet
    ex.advance(trade("89.00", size="5", ts=8))  # the stop completes
    ex.place_stop_limit("s3", "BTC-USD", D("1.6"), D("88.00"), D("87.00"))
    ex.advance(trade("1890.00", product="ETH-USD", ts=9))
    ex.advance(trade("97.00", ts=10))  # quiet


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_restart_restores_the_exact_state(tmp_path):
    path = tmp_path / "paper.jsonl"
    live = make(path)
    scenario_a(live)
    live.close()  # as a crash would: the journal is all that is left
    restored = make(path)
    assert restored.state() == live.state()
    assert restored.list_fills() == live.list_fills()
    assert restored.list_orders() == live.list_orders()
    assert restored.balances() == live.balances()
    # And it carries on exactly like an exchange that never stopped.
    scenario_b(restored)
    reference = make(None)
    scenario_a(reference)
    scenario_b(reference)
    assert restored.state() == reference.state()
    restored.close()
    again = PaperExchange.restore(path)
    state, expected = again.state(), restored.state()
    # The last tick (97.00) changed nothing, so it was not journaled: market_seq lags.
    assert (state.pop("market_seq"), expected.pop("market_seq")) == (9, 10)
    assert state.pop("last")["BTC-USD"] == (D("89.00"), 8)
    expected.pop("last")
    assert state == expected
    assert again.fill_model == "trade_size"


def test_the_journal_has_one_line_per_mutation_and_none_for_quiet_ticks(tmp_path):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    ex.advance(trade("100.00", ts=1))
    ex.advance(trade("101.00", ts=2))
    assert [r["op"] for r in records(path)] == ["init"]
    ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    ex.advance(trade("99.00", ts=3))
    ex.advance(trade("90.00", ts=4))
    ex.cancel_order(ex.get_order_by_client_id("s1").order_id)
    ex.advance(trade("98.00", ts=5))
    ex.close()
    recs = records(path)
    assert [r["op"] for r in recs] == ["init", "place", "tick", "cancel"]
    place, tick, cancel = recs[1:]
    assert place["seq"] == 2 and place["last"] == {"BTC-USD": ["101.00", 2, "1"]}
    assert place["order"]["stop_price"] == "95.00"
    assert tick["seq"] == 4 and tick["triggers"] == [place["order"]["order_id"]]
    assert tick["fills"] == [] and tick["trade"]["price"] == "90.00"
    assert cancel["seq"] == 4
    restored = make(path)
    assert restored.market_seq == 4  # the last mutation's, not the last tick's (5)
    assert restored.last_price("BTC-USD") == D("90.00")
    assert ex.market_seq == 5


def test_decimals_are_written_as_plain_strings(tmp_path):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    ex.advance(trade("100.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("0.00000001"), D("99.99"))
    ex.advance(trade("99.99"))
    (fill,) = records(path)[-1]["fills"]
    assert fill["size"] == "0.00000001"
    assert fill["commission"] == "0.0000000039996"
    assert records(path)[0]["products"][0]["base_increment"] == "0.00000001"


def test_a_truncated_last_line_is_ignored_and_cut_off(tmp_path):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    scenario_a(ex)
    ex.close()
    lines = path.read_bytes().splitlines(keepends=True)
    # The expected state: the journal without its last line.
    path.write_bytes(b"".join(lines[:-1]))
    before_last = make(path)
    expected = before_last.state()
    before_last.close()
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    restored = make(path)
    assert restored.state() == expected
    assert path.read_bytes() == b"".join(lines[:-1])  # the torn bytes are gone
    # New lines land on a clean line boundary: the next restart reads them.
    assert restored.advance(trade("89.00", size="5", ts=99))
    restored.close()
    assert make(path).state() == restored.state()


def test_a_torn_line_even_with_complete_json_is_ignored(tmp_path):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    ex.advance(trade("100.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    ex.close()
    data = path.read_bytes()
    path.write_bytes(data[:-1])  # only the newline is missing: the call never returned
    restored = make(path)
    assert restored.list_orders() == []
    assert restored.balances()["USD"].hold == 0


def test_a_torn_header_starts_afresh(tmp_path):
    path = tmp_path / "paper.jsonl"
    path.write_bytes(b'{"op":"in')
    ex = make(path)
    assert ex.list_orders() == [] and ex.market_seq == 0
    assert [r["op"] for r in records(path)] == ["init"]


def test_a_corrupt_middle_line_is_a_clear_error(tmp_path):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    scenario_a(ex)
    ex.close()
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"op": "place", "order": {"oops"\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(PaperStateError, match=rf"{path}:3: corrupt journal line: malformed JSON"):
        make(path)


@pytest.mark.parametrize(
    ("mangle", "detail"),
    [
        (lambda r: r.update(op="explode"), "unknown op 'explode'"),
        (lambda r: r.pop("seq"), "missing field 'seq'"),
        (lambda r: r["fills"][0].update(size="lots"), "not a decimal number"),
        (lambda r: r["fills"][0].update(order_id="ghost"), "unknown order 'ghost'"),
        (lambda r: r["fills"][0].update(size="100"), "remaining"),
    ],
)
def test_records_that_do_not_fit_the_state_are_errors(tmp_path, mangle, detail):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    ex.advance(trade("100.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    ex.advance(trade("90.00", size="0.5"))
    ex.advance(trade("101.00"))
    ex.close()
    recs = records(path)
    assert recs[2]["op"] == "tick"
    mangle(recs[2])
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with pytest.raises(PaperStateError, match=rf"{path}:3: .*{detail}"):
        make(path)


def test_a_blank_middle_line_is_an_error(tmp_path):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    ex.advance(trade("100.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    ex.close()
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"\n" + lines[1])
    with pytest.raises(PaperStateError, match=r":2: "):
        make(path)


def test_another_configuration_is_refused(tmp_path):
    path = tmp_path / "paper.jsonl"
    make(path).close()
    with pytest.raises(PaperStateError, match="taker_fee"):
        PaperExchange(state_path=path, taker_fee=D("0.01"), **CONFIG)  # type: ignore[arg-type]
    # Same numbers written differently are the same configuration.
    same = PaperExchange(
        state_path=path,
        balances={"BTC": D("1.000"), "USD": D("10000.00")},
        fill_model="trade_size",
    )
    same.close()


def test_restore_needs_a_journal(tmp_path):
    with pytest.raises(PaperStateError, match="no journal"):
        PaperExchange.restore(tmp_path / "missing.jsonl")


def test_a_failed_write_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "paper.jsonl"
    ex = make(path)
    ex.advance(trade("100.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    state, data = ex.state(), path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        ex.place_limit_buy("b2", "BTC-USD", D("1"), D("80.00"))
    with pytest.raises(OSError, match="disk on fire"):
        ex.advance(trade("85.00"))
    with pytest.raises(OSError, match="disk on fire"):
        ex.cancel_order(ex.get_order_by_client_id("b1").order_id)
    monkeypatch.undo()
    after = ex.state()
    assert after.pop("market_seq") == 2 and after.pop("last") != state.pop("last")
    state.pop("market_seq")
    assert after == state  # orders, fills, balances untouched
    assert path.read_bytes() == data  # the half-written lines were cut off
    assert ex.get_order_by_client_id("b1").status is OrderStatus.OPEN
    (f,) = ex.advance(trade("85.00"))  # works again once the disk does
    ex.close()
    assert make(path).list_fills() == [f]


def test_one_writer_per_journal(tmp_path):
    path = tmp_path / "paper.jsonl"
    first = make(path)
    with pytest.raises(PaperStateError, match="in use"):
        make(path)
    first.close()
    make(path).close()


def test_context_manager_closes_the_journal(tmp_path):
    path = tmp_path / "paper.jsonl"
    with make(path) as ex:
        assert ex.state_path == path
        ex.advance(trade("100.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))  # in memory only now
    assert [r["op"] for r in records(path)] == ["init"]
