"""reeflow.clean.quality: coverage, World totals vs partners, collection across years (SYNTHETIC + real)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_trade import CHN, COMMODITIES, DEU, JPN, USA, WORLD, v1_record

from reeflow.acquire.raw import read_comtrade_file
from reeflow.clean.declarations import reported_from_records
from reeflow.clean.quality import collect_quality, coverage, run_collect_trade_quality, world_vs_partners
from reeflow.commodities import cleaning_records, load_commodities
from reeflow.io import ReeflowError
from reeflow.schemas import COVERAGE_COLUMNS, WORLD_CHECK_COLUMNS, empty_table

ROOT = Path(__file__).resolve().parents[1]


def reported_of(*records: dict) -> pd.DataFrame:
    return reported_from_records(pd.DataFrame.from_records(list(records)), COMMODITIES, "synthetic.json")[0]


def test_coverage_counts_partners_tonnes_and_the_imputed_share() -> None:
    rep = reported_of(
        v1_record(partner=CHN, kg=1000.0, usd=10_000.0),
        v1_record(partner=JPN, kg=3000.0, usd=30_000.0),
        v1_record(partner=DEU, kg=None, qty=None, usd=40_000.0),  # imputed: 4 t at 10 000 USD/t
        v1_record(partner=WORLD, kg=9_000_000.0, usd=1e9),  # World rows are not coverage
        v1_record(partner=CHN, cmd="999999", kg=5.0),  # unmapped codes neither
    )
    cov = coverage(rep)
    assert list(cov.columns) == list(COVERAGE_COLUMNS) and len(cov) == 1
    row = cov.iloc[0]
    assert (row["n_records"], row["n_partners"], row["n_qty_missing"]) == (3, 3, 0)
    assert row["qty_t"] == pytest.approx(8.0) and row["value_usd"] == pytest.approx(80_000.0)
    assert row["share_imputed"] == pytest.approx(4.0 / 8.0)


def test_world_check_flags() -> None:
    rep = reported_of(
        # USA imports: World says 0 (as in the real 2020-2021 data), the China row is positive.
        v1_record(flow="M", partner=WORLD, kg=0.0, qty=0.0, usd=0.0),
        v1_record(flow="M", partner=CHN, kg=5000.0),
        # USA exports: World net weight 0 but a quantity, partners with net weights.
        v1_record(flow="X", partner=WORLD, kg=None, netWgt=0.0, qty=9000.0),
        v1_record(flow="X", partner=CHN, kg=4000.0),
        # JPN exports: partners above World.
        v1_record(reporter=JPN, partner=WORLD, kg=1000.0),
        v1_record(reporter=JPN, partner=CHN, kg=1500.0),
        # DEU exports: consistent (partners below World: not every partner downloaded).
        v1_record(reporter=DEU, partner=WORLD, kg=1000.0),
        v1_record(reporter=DEU, partner=CHN, kg=600.0),
        # CHN: partner rows without a World row; and a World row alone.
        v1_record(reporter=CHN, partner=USA, flow="M", kg=10.0),
        v1_record(reporter=CHN, partner=WORLD, flow="X", kg=10.0),
    )
    check = world_vs_partners(rep)
    assert list(check.columns) == list(WORLD_CHECK_COLUMNS)
    flags = dict(zip(zip(check["reporter"], check["flow"]), check["flag"], strict=True))
    assert flags == {
        ("USA", "M"): "world_zero_partners_positive",
        ("USA", "X"): "world_netwgt_zero_partners_positive",
        ("JPN", "X"): "partners_exceed_world",
        ("DEU", "X"): "ok",
        ("CHN", "M"): "no_world_row",
        ("CHN", "X"): "no_partner_rows",
    }
    deu = check[check["reporter"] == "DEU"].iloc[0]
    assert deu["ratio"] == pytest.approx(0.6) and deu["n_partners"] == 1
    assert np.isnan(check.loc[check["reporter"].eq("USA") & check["flow"].eq("M"), "ratio"]).all()


def test_collect_quality_concatenates_years_and_skips_empty_ones(tmp_path: Path) -> None:
    paths = []
    for year, n in ((2019, 2), (2020, 0), (2021, 1)):
        table = empty_table(COVERAGE_COLUMNS) if n == 0 else pd.DataFrame({
            "year": [year] * n, "reporter": ["USA"] * n, "flow": ["M"] * n, "hs6": ["2846"] * n,
            "n_records": [1] * n, "n_partners": [1] * n, "n_qty_missing": [0] * n, "qty_t": [1.0] * n,
            "value_usd": [2.0] * n, "share_imputed": [0.0] * n,
        })  # fmt: skip
        path = tmp_path / f"{year}.parquet"
        table.to_parquet(path)
        paths.append(path)
    out = tmp_path / "results" / "coverage.csv"
    collect_quality(paths, out)
    got = pd.read_csv(out)
    assert got["year"].tolist() == [2019, 2019, 2021] and list(got.columns) == list(COVERAGE_COLUMNS)


def test_collect_quality_keeps_columns_when_every_year_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "2020.parquet"
    empty_table(WORLD_CHECK_COLUMNS).to_parquet(path)
    run_collect_trade_quality({"world_check": [str(path)]}, {"world_check": str(tmp_path / "w.csv")})
    assert pd.read_csv(tmp_path / "w.csv").columns.tolist() == list(WORLD_CHECK_COLUMNS)


def test_collect_quality_names_an_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "2020.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ReeflowError, match="2020.parquet"):
        collect_quality([bad], tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_real_usa_world_imports_zero_while_china_positive(real_data: Path) -> None:
    table = load_commodities(ROOT / "config" / "commodities.csv")
    commodities = cleaning_records(table)
    records = read_comtrade_file(real_data / "comtrade" / "usa-china-2020-2024" / "usa-china-2846-280530.csv")
    check = world_vs_partners(reported_from_records(records, commodities, "usa-china.csv")[0])
    usa_m = check[(check["reporter"] == "USA") & (check["flow"] == "M") & (check["cmd_code"] == "2846")]
    flagged = usa_m[usa_m["year"].isin([2020, 2021])]
    assert len(flagged) == 2 and (flagged["world_netwgt_t"] == 0).all() and (flagged["partners_netwgt_t"] > 0).all()
    assert set(flagged["flag"]) == {"world_netwgt_zero_partners_positive"}
    assert set(usa_m.loc[usa_m["year"] >= 2022, "flag"]) == {"ok"}
