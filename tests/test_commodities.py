"""The commodity table: the shipped one loads; broken ones fail naming the row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reeflow.commodities import STAGES, load_commodities
from reeflow.io import ReeflowError


def test_shipped_table_covers_every_stage_with_ordered_ranges(repo_root: Path) -> None:
    table = load_commodities(repo_root / "config" / "commodities.csv")
    assert set(table["stage"]) == set(STAGES)
    assert (table["content_low"] <= table["content_central"]).all()
    assert (table["content_central"] <= table["content_high"]).all()
    assert table["citation"].str.len().gt(10).all(), "every coefficient needs a citation"
    assert {"2846", "284690", "280530", "850511"} <= set(table["hs_code"])


def _write(tmp_path: Path, repo_root: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    table = pd.read_csv(repo_root / "config" / "commodities.csv", dtype=str, keep_default_na=False)
    table = edit(table)
    path = tmp_path / "commodities.csv"
    table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.drop(columns=["content_high"]), "missing column"),
        (lambda t: t.assign(stage=t["stage"].where(t.index != 2, "smelting")), "column stage"),
        (lambda t: t.assign(content_low=t["content_low"].where(t.index != 0, "-1")), "content_low"),
        (lambda t: t.assign(content_low=t["content_low"].where(t.index != 0, "abc")), "content_low"),
        (lambda t: t.assign(share_low=t["share_low"].where(t.index != 0, "0.9")), "share_low <="),
        (lambda t: t.assign(hs_code=t["hs_code"].where(t.index != 1, "12ab")), "hs_code"),
        (lambda t: t.assign(revisions=t["revisions"].where(t.index != 1, "H9")), "revisions"),
        (lambda t: pd.concat([t, t.iloc[[0]]]), "duplicate hs_code"),
    ],
)
def test_broken_table_names_the_problem(tmp_path: Path, repo_root: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, repo_root, edit)
    with pytest.raises(ReeflowError) as info:
        load_commodities(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_excluded_rows_are_dropped_unless_asked(tmp_path: Path, repo_root: Path) -> None:
    path = _write(tmp_path, repo_root, lambda t: t.assign(include=t["include"].where(t.index != 0, "false")))
    assert len(load_commodities(path)) == len(load_commodities(path, included_only=False)) - 1
