"""tradekit.jsonl: whole lines, torn tails cut off, one writer, strict reading."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from tradekit.jsonl import JsonlError, JsonlFile, JsonlLocked, complete_lines, dumps, parse, read


def test_append_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    f = JsonlFile(path, durable=True)
    assert f.lines == []
    f.append({"a": 1})
    f.append({"b": "0.00000001"})
    f.close()
    assert path.read_bytes() == b'{"a":1}\n{"b":"0.00000001"}\n'
    assert [(n, parse(raw, path, n)) for n, raw in read(path)] == [
        (1, {"a": 1}),
        (2, {"b": "0.00000001"}),
    ]
    assert [n for n, _ in read(path, start=2)] == [2]
    again = JsonlFile(path)
    assert again.lines == [b'{"a":1}', b'{"b":"0.00000001"}']
    again.close()
    with pytest.raises(ValueError, match="closed"):
        again.append({})


def test_a_torn_last_line_is_not_a_line_and_is_cut_off_by_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}')  # a crash mid-write: no final newline
    assert [raw for _, raw in read(path)] == [b'{"a":1}']
    assert complete_lines(path.read_bytes()) == [b'{"a":1}']
    f = JsonlFile(path)
    assert f.lines == [b'{"a":1}']
    f.append({"c": 3})
    f.close()
    assert path.read_bytes() == b'{"a":1}\n{"c":3}\n'


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "log.jsonl"
    f = JsonlFile(path, durable=True)
    f.append({"a": 1})

    def broken(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk on fire"):
        f.append({"b": 2})
    monkeypatch.undo()
    assert path.read_bytes() == b'{"a":1}\n'
    f.append({"c": 3})
    f.close()
    assert path.read_bytes() == b'{"a":1}\n{"c":3}\n'


def test_one_locked_writer(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    first = JsonlFile(path, lock=True)
    with pytest.raises(JsonlLocked, match="in use"):
        JsonlFile(path, lock=True)
    first.close()
    JsonlFile(path, lock=True).close()


def test_modes(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    JsonlFile(path, mode="x").close()
    with pytest.raises(FileExistsError):
        JsonlFile(path, mode="x")
    path.write_bytes(b'{"a":1}\n')
    JsonlFile(path, mode="w").close()
    assert path.read_bytes() == b""
    assert list(read(tmp_path / "missing.jsonl")) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a":', "malformed JSON"),
        (b"\xff", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"[1]", "expected a JSON object, got list"),
    ],
)
def test_strict_reading_names_file_and_line(raw: bytes, message: str) -> None:
    with pytest.raises(JsonlError, match=message) as info:
        parse(raw, "f.jsonl", 7)
    assert (info.value.path, info.value.line) == ("f.jsonl", 7)
    assert str(info.value).startswith("f.jsonl, line 7: ")
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.path, back.line, back.message) == ("f.jsonl", 7, info.value.message)


def test_dumps_is_one_compact_line_and_refuses_nan() -> None:
    assert dumps({"a": [1, "x"]}) == b'{"a":[1,"x"]}\n'
    with pytest.raises(ValueError):
        dumps({"a": float("nan")})
