"""Atomic writers: an interrupted write leaves neither a partial file nor a temporary one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reeflow.io import (
    ReeflowError,
    atomic_path,
    concat_parquet_to_csv,
    keep_freed_memory,
    read_json,
    sha256_file,
    write_csv_atomic,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
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


# --------------------------------------------------------------------------------------------
# Crash atomicity of every writer: interrupted mid-write, no target and no temporary file remain


def _half_then_raise(exc: BaseException):
    """A stand-in for a writer's inner call: it writes part of the file at its first path-like
    argument, then fails as a crash (or Ctrl-C) would."""

    def crash(*args, **kwargs):
        for arg in args:
            if isinstance(arg, (str, Path)):
                Path(arg).write_bytes(b"PAR1 half a file")
                break
            if hasattr(arg, "write"):
                arg.write(b"half,a,row\n")
                break
        raise exc

    return crash


WRITERS = {
    "parquet": (lambda p: write_parquet_atomic(pd.DataFrame({"a": [1]}), p), "pandas.DataFrame.to_parquet"),
    "csv": (lambda p: write_csv_atomic(pd.DataFrame({"a": [1]}), p), "pyarrow.csv.write_csv"),
    "json": (lambda p: write_json_atomic(p, {"a": 1}), "pathlib.Path.write_bytes"),
    "text": (lambda p: write_text_atomic(p, "text"), "pathlib.Path.write_bytes"),
}


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()], ids=["error", "interrupt"])
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_writer_interrupted_mid_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, exc: BaseException
) -> None:
    write, inner = WRITERS[kind]
    if kind in ("json", "text"):
        real = Path.write_bytes
        crash = _half_then_raise(exc)
        monkeypatch.setattr(Path, "write_bytes", lambda self, data: (real(self, data[:3]), crash())[1])
    else:
        monkeypatch.setattr(inner, _half_then_raise(exc))
    target = tmp_path / "out" / f"table.{kind}"
    with pytest.raises(type(exc)):
        write(target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no .part file either


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_an_interrupted_rewrite_keeps_the_previous_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    write, inner = WRITERS[kind]
    target = tmp_path / f"table.{kind}"
    write(target)
    before = target.read_bytes()
    if kind in ("json", "text"):
        monkeypatch.setattr(Path, "write_bytes", lambda self, data: _half_then_raise(OSError("disk full"))())
    else:
        monkeypatch.setattr(inner, _half_then_raise(OSError("disk full")))
    with pytest.raises(OSError):
        write(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failure_at_the_commit_point_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes are written but flushing them fails (before the rename): still nothing is left."""
    import reeflow.io as rio

    def fail(path: Path, directory: bool = False) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(rio, "_fsync", fail)
    target = tmp_path / "t.parquet"
    with pytest.raises(OSError, match="fsync"):
        write_parquet_atomic(pd.DataFrame({"a": [1]}), target)
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_fsync_the_file_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import reeflow.io as io_module

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync:" + ("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(src, dst) -> None:  # type: ignore[no-untyped-def]
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(io_module.os, "fsync", fsync)
    monkeypatch.setattr(io_module.os, "replace", replace)
    write_text_atomic(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert events[:2] == ["fsync:file", "replace"]


def test_leftover_part_files_of_a_target_are_removed(tmp_path: Path) -> None:
    from reeflow.io import remove_stale_parts

    for name in (".big.zip.abcd1234.part", ".big.zip.x.abcd1234.part", ".big.zipx.abcd1234.part", "big.zip"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in remove_stale_parts(tmp_path / "big.zip")] == [".big.zip.abcd1234.part"]
    kept = [".big.zip.x.abcd1234.part", ".big.zipx.abcd1234.part", "big.zip"]
    assert sorted(p.name for p in tmp_path.iterdir()) == kept
    assert remove_stale_parts(tmp_path / "missing" / "big.zip") == []


def test_per_year_tables_stack_into_the_csv_pandas_would_write(tmp_path: Path) -> None:
    """collect_mfa's arrow-only path: same bytes as concatenating in pandas, empty years left out."""
    years = [
        pd.DataFrame({"year": [2000, 2000], "country": ["USA", "CHN"], "value": [1.5, float("nan")]}),
        pd.DataFrame({"year": pd.Series([], dtype="int64"), "country": pd.Series([], dtype=str),
                      "value": pd.Series([], dtype=float)}),
        pd.DataFrame({"year": [2002], "country": ['a "quoted", name'], "value": [1e-12]}),
    ]  # fmt: skip
    paths = []
    for i, frame in enumerate(years):
        paths.append(tmp_path / f"{i}.parquet")
        write_parquet_atomic(frame, paths[-1])
    concat_parquet_to_csv(paths, tmp_path / "arrow.csv", "per-year test")
    write_csv_atomic(pd.concat([years[0], years[2]], ignore_index=True), tmp_path / "pandas.csv")
    assert (tmp_path / "arrow.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    assert pd.read_csv(tmp_path / "arrow.csv")["year"].tolist() == [2000, 2000, 2002]


def test_a_missing_or_corrupt_year_names_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    write_parquet_atomic(pd.DataFrame({"year": [2000]}), good)
    with pytest.raises(ReeflowError, match=r"missing\.parquet: no such file \(per-year test\)"):
        concat_parquet_to_csv([good, tmp_path / "missing.parquet"], tmp_path / "out.csv", "per-year test")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ReeflowError, match=r"bad\.parquet: cannot read per-year test"):
        concat_parquet_to_csv([good, tmp_path / "bad.parquet"], tmp_path / "out.csv", "per-year test")
    assert not (tmp_path / "out.csv").exists()


def test_the_allocator_keeps_freed_memory_on_glibc_and_is_a_no_op_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory() is True
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: (_ for _ in ()).throw(OSError("no libc")))
    assert keep_freed_memory() is False


def test_years_typed_differently_are_still_stacked(tmp_path: Path) -> None:
    """A column that is text one year and numbers another cannot be stacked by pyarrow; pandas can."""
    write_parquet_atomic(pd.DataFrame({"year": [2000], "code": ["2846"]}), tmp_path / "a.parquet")
    write_parquet_atomic(pd.DataFrame({"year": [2001], "code": [2846]}), tmp_path / "b.parquet")
    concat_parquet_to_csv([tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "out.csv", "per-year test")
    assert (tmp_path / "out.csv").read_text().splitlines() == ["year,code", "2000,2846", "2001,2846"]
