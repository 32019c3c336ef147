"""Atomic writers: an interrupted write leaves neither a partial file nor a temporary one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reeflow.io import (
    ReeflowError,
    atomic_path,
    read_json,
    sha256_file,
    write_json_atomic,
    write_parquet_atomic,
)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "table.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_parquet_and_json_round_trip(tmp_path: Path) -> None:
    frame = pd.DataFrame({"year": [2020, 2021], "country": ["USA", "CHN"], "value": [1.5, None]})
    write_parquet_atomic(frame, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), frame, check_dtype=False)
    write_json_atomic(tmp_path / "p.json", {"a": 1})
    assert read_json(tmp_path / "p.json") == {"a": 1}
    assert len(sha256_file(tmp_path / "p.json")) == 64


def test_corrupt_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ReeflowError, match="bad.json"):
        read_json(path)
