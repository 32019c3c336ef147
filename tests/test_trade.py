"""reeflow.clean.declarations: SYNTHETIC v1 records -> reported table (totals, countries, tonnes, errors)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reeflow.acquire.raw import V1_FIELDS, read_comtrade_file
from reeflow.clean.declarations import (
    CLEAN_TRADE_TABLES,
    quantities,
    reported_from_records,
    run_clean_trade,
    totals_mask,
)
from reeflow.commodities import cleaning_records
from reeflow.io import ReeflowError, write_json_atomic
from reeflow.schemas import (
    REPORTED_COLUMNS,
    REPORTED_SCHEMA,
    TRADE_COLUMNS,
    UNMAPPED_COLUMNS,
    empty_table,
    validate_table,
)
from reeflow.settings import TradeSettings

USA, CHN, JPN, DEU, HKG, WORLD, AREAS_NES = 842, 156, 392, 276, 344, 0, 899
COMMODITIES: list[dict[str, str]] = [
    {"hs_code": "2846", "stage": "separation", "unit_basis": "t", "revisions": ""},
    {"hs_code": "284690", "stage": "separation", "unit_basis": "t", "revisions": ""},
    {"hs_code": "280530", "stage": "metal", "unit_basis": "t", "revisions": ""},
    {"hs_code": "850780", "stage": "intermediate", "unit_basis": "t", "revisions": "H0|H1|H2|H3"},
    {"hs_code": "870380", "stage": "final", "unit_basis": "item", "revisions": "H5|H6"},
    {"hs_code": "870390", "stage": "final", "unit_basis": "item", "revisions": "H0|H1|H2|H3|H4"},
]
TRADE = TradeSettings(mirror_rule="importer_first", discrepancy_factor=2.0, impute_missing_weights=True,
                      large_flow_t=100.0, cross_code=())  # fmt: skip


def v1_record(
    reporter: int = USA,
    partner: int = CHN,
    flow: str = "X",
    cmd: str = "2846",
    kg: float | None = 1000.0,
    usd: float | None = 5000.0,
    year: int = 2021,
    rev: str = "H5",
    **extra: Any,
) -> dict[str, Any]:
    """A SYNTHETIC Comtrade v1 record (all 47 fields) of ``kg`` kilograms worth ``usd`` dollars."""
    record: dict[str, Any] = {name: None for name in V1_FIELDS}
    record.update(
        typeCode="C", freqCode="A", refPeriodId=year * 10000 + 101, refYear=year, refMonth=52, period=str(year),
        reporterCode=reporter, reporterISO="", flowCode=flow, partnerCode=partner, partnerISO="",
        partner2Code=0, classificationCode=rev, classificationSearchCode="HS", isOriginalClassification=True,
        cmdCode=cmd, aggrLevel=len(cmd), isLeaf=len(cmd) == 6, customsCode="C00", mosCode="0", motCode=0,
        qtyUnitCode=8, qtyUnitAbbr="kg", qty=kg, isQtyEstimated=False, altQtyUnitCode=-1, altQty=0.0,
        netWgt=kg, isNetWgtEstimated=False, grossWgt=0.0, cifvalue=usd if flow in ("M", "RM") else 0.0,
        fobvalue=usd if flow in ("X", "RX") else 0.0, primaryValue=usd, isReported=True, isAggregate=False,
    )  # fmt: skip
    record.update(extra)
    return record


def frame(*records: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(records))


def reported_of(*records: dict[str, Any], impute: bool = True) -> pd.DataFrame:
    return reported_from_records(frame(*records), COMMODITIES, "synthetic.json", impute=impute)[0]


def test_only_totals_over_partner2_customs_and_transport_count() -> None:
    records = frame(
        v1_record(),
        v1_record(partner2Code=HKG),
        v1_record(customsCode="C01"),
        v1_record(motCode=1000),
        v1_record(freqCode="M"),
        v1_record(flow="DX"),
        v1_record(year=2019),
        v1_record(partner2Code=None, customsCode=None, motCode=None),
    )
    kept = totals_mask(records, year=2021)
    assert kept.tolist() == [True, False, False, False, False, False, False, True]


def test_countries_from_numeric_codes_world_and_areas_nes_flagged() -> None:
    rep = reported_of(
        v1_record(partner=WORLD, kg=9000.0),
        v1_record(partner=CHN, reporterISO="", partnerISO="XXX"),
        v1_record(partner=AREAS_NES, kg=10.0),
    ).set_index("partner")
    assert set(rep.index) == {"WLD", "CHN", "X899"}
    assert rep["reporter"].eq("USA").all()
    assert rep.loc["WLD", "is_world"] and not rep.loc["WLD", "partner_is_country"]
    assert not rep.loc["X899", "is_world"] and not rep.loc["X899", "partner_is_country"]
    assert rep.loc["CHN", "partner_is_country"] and not rep.loc["CHN", "is_world"]


def test_unmapped_lists_non_country_partners_and_unknown_codes_with_quantities() -> None:
    records = (
        v1_record(partner=AREAS_NES, kg=10_000.0),
        v1_record(cmd="999999", kg=3000.0, usd=70.0),
        v1_record(cmd="999999", partner=JPN, kg=2000.0, usd=30.0),
        v1_record(partner=WORLD),
    )
    _, unmapped = reported_from_records(frame(*records), COMMODITIES, "synthetic.json")
    by_reason = unmapped.groupby("reason").agg(n=("n_records", "sum"), t=("qty_t", "sum"), usd=("value_usd", "sum"))
    assert by_reason.loc["no_table_row", "n"] == 2
    assert by_reason.loc["no_table_row", "t"] == pytest.approx(5.0)
    assert by_reason.loc["no_table_row", "usd"] == pytest.approx(100.0)
    assert by_reason.loc["partner_not_a_country", "t"] == pytest.approx(10.0)
    assert "WLD" not in set(unmapped["partner"])  # World rows go to the World check instead


def test_tonnes_from_net_weight_then_supplementary_quantity() -> None:
    records = frame(
        v1_record(kg=2500.0),  # netWgt in kg
        v1_record(netWgt=0.0, qty=4000.0),  # weight not reported: quantity in kg
        v1_record(netWgt=None, qty=7.0, qtyUnitCode=-1, qtyUnitAbbr="t"),  # quantity in tonnes
        v1_record(netWgt=None, qty=0.0, qtyUnitCode=-1, qtyUnitAbbr="N/A"),  # nothing
    )
    got = quantities(records)
    assert got["qty_t"].iloc[:3].tolist() == pytest.approx([2.5, 4.0, 7.0])
    assert np.isnan(got["qty_t"].iloc[3])
    assert got["qty_source"].tolist() == ["netWgt", "qty", "qty", "missing"]
    assert got["netwgt_t"].iloc[1] == 0.0  # a published zero stays visible


def test_counted_goods_give_items_and_weight() -> None:
    records = frame(
        v1_record(cmd="870380", qty=40.0, qtyUnitCode=5, qtyUnitAbbr="u", netWgt=72_000.0),
        v1_record(cmd="870380", qty=3.0, qtyUnitCode=9, qtyUnitAbbr="1000u", netWgt=None),
        v1_record(cmd="850780", qty=500.0, qtyUnitCode=8, netWgt=500.0, altQtyUnitCode=5, altQty=20.0),
    )
    got = quantities(records)
    assert got["qty_items"].tolist() == [40.0, 3000.0, 20.0]
    assert got["qty_t"].iloc[0] == pytest.approx(72.0)
    assert np.isnan(got["qty_t"].iloc[1])  # items alone are not tonnes


def test_estimate_flag_follows_the_field_the_tonnes_came_from() -> None:
    records = frame(
        v1_record(isNetWgtEstimated=True, isQtyEstimated=False),
        v1_record(netWgt=0.0, qty=10.0, isNetWgtEstimated=False, isQtyEstimated="True"),
        v1_record(isNetWgtEstimated="False", isQtyEstimated=True),
    )
    assert quantities(records)["qty_estimated"].tolist() == [True, True, False]


def test_missing_weight_imputed_from_median_unit_value_of_code_and_year() -> None:
    rep = reported_of(
        v1_record(partner=CHN, kg=1000.0, usd=10_000.0),  # 10 000 USD/t
        v1_record(partner=JPN, kg=2000.0, usd=40_000.0),  # 20 000 USD/t
        v1_record(partner=DEU, kg=1000.0, usd=30_000.0),  # 30 000 USD/t -> median 20 000
        v1_record(partner=HKG, kg=None, qty=None, usd=50_000.0),
        v1_record(partner=WORLD, kg=1e9, usd=1.0),  # World rows do not enter the median
        v1_record(partner=HKG, cmd="280530", kg=None, qty=None, usd=50_000.0),  # no unit value for this code
    ).set_index(["partner", "cmd_code"])
    assert rep.loc[("HKG", "2846"), "qty_t"] == pytest.approx(2.5)
    assert rep.loc[("HKG", "2846"), "qty_imputed"] and rep.loc[("HKG", "2846"), "qty_source"] == "imputed"
    assert np.isnan(rep.loc[("HKG", "280530"), "qty_t"]) and not rep.loc[("HKG", "280530"), "qty_imputed"]
    assert not rep.loc[("CHN", "2846"), "qty_imputed"]


def test_imputation_can_be_switched_off() -> None:
    rep = reported_of(v1_record(kg=1000.0), v1_record(partner=JPN, kg=None, qty=None), impute=False)
    assert rep["qty_t"].isna().sum() == 1 and not rep["qty_imputed"].any()


@pytest.mark.parametrize("field", ["netWgt", "qty", "primaryValue"])
def test_negative_quantity_or_value_names_file_field_and_record(field: str) -> None:
    with pytest.raises(ReeflowError) as info:
        reported_of(v1_record(), v1_record(partner=JPN, cmd="280530", **{field: -5.0}))
    message = str(info.value)
    assert "synthetic.json" in message and field in message
    assert "reporter 842" in message and "partner 392" in message and "code 280530" in message


def test_values_are_primary_else_cif_for_imports_and_fob_for_exports() -> None:
    rep = reported_of(
        v1_record(flow="M", primaryValue=None, cifvalue=11.0, fobvalue=9.0),
        v1_record(flow="X", primaryValue=None, cifvalue=11.0, fobvalue=9.0),
        v1_record(flow="RX", usd=7.0),
    ).set_index("flow")
    assert rep.loc["M", "value_usd"] == 11.0 and rep.loc["X", "value_usd"] == 9.0 and rep.loc["RX", "value_usd"] == 7.0


def test_repeated_declarations_kept_once_and_one_revision_per_reporter_year() -> None:
    rep = reported_of(
        v1_record(kg=1000.0),
        v1_record(kg=1000.0),  # the same record from an overlapping answer
        v1_record(rev="H4", isOriginalClassification=False, kg=1000.0),  # converted copy
        v1_record(reporter=CHN, partner=USA, flow="M", rev="H5", kg=5.0),
    )
    usa = rep[rep["reporter"] == "USA"]
    assert len(usa) == 1 and usa["classification"].item() == "H5"
    assert usa["qty_t"].sum() == pytest.approx(1.0)


def test_revision_missing_falls_back_to_the_year() -> None:
    rep = reported_of(v1_record(cmd="870390", classificationCode=None, year=2015, qty=3.0, qtyUnitCode=5))
    assert rep["classification"].item() == "H4" and rep["hs6"].item() == "870390"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([CHN, JPN, DEU, HKG, WORLD, AREAS_NES]),
                          st.sampled_from(["M", "X"]), st.floats(0, 1e7), st.floats(0, 1e9)),
                min_size=1, max_size=12))  # fmt: skip
def test_reported_is_valid_and_never_loses_tonnes(rows: list[tuple[int, str, float, float]]) -> None:
    records = [v1_record(partner=p, flow=f, kg=kg, usd=usd) for p, f, kg, usd in rows]
    rep, _ = reported_from_records(frame(*records), COMMODITIES, "synthetic.json", impute=False)
    validate_table(rep, REPORTED_SCHEMA, "reported")
    first: dict[tuple[int, str], float] = {}  # repeated declarations keep the first
    for p, f, kg, _ in rows:
        first.setdefault((p, f), kg)
    assert len(rep) == len(first)
    expected = sum(kg for kg in first.values() if kg > 0) / 1000.0
    assert rep["qty_t"].sum() == pytest.approx(expected)


def test_schema_failure_names_table_column_and_rows() -> None:
    rep = reported_of(v1_record(), v1_record(partner=JPN))
    broken = rep.assign(qty_t=[1.0, -3.0])
    with pytest.raises(ReeflowError) as info:
        validate_table(broken, REPORTED_SCHEMA, "reported 2021")
    message = str(info.value)
    assert message.startswith("reported 2021:") and "column qty_t" in message and "'partner': 'JPN'" in message


def test_empty_tables_have_the_contract_columns() -> None:
    assert list(empty_table(REPORTED_COLUMNS).columns) == list(REPORTED_COLUMNS)
    assert validate_table(empty_table(REPORTED_COLUMNS), REPORTED_SCHEMA, "r").empty
    assert list(empty_table(UNMAPPED_COLUMNS).columns) == list(UNMAPPED_COLUMNS)


# --------------------------------------------------------------------------------------------
# End to end: a raw year file -> six Parquet files
# --------------------------------------------------------------------------------------------

OUTPUTS = CLEAN_TRADE_TABLES


def raw_year_file(path: Path, records: list[dict[str, Any]]) -> Path:
    write_json_atomic(
        path,
        {
            "source": "files",
            "year": 2021,
            "scope": {},
            "responses": [
                {"kind": "file", "path": "synthetic", "format": "json", "count": len(records), "records": records}
            ],
        },
    )
    return path


def test_run_clean_trade_writes_every_table(tmp_path: Path) -> None:
    raw = raw_year_file(tmp_path / "2021.json", [
        v1_record(kg=60_000_000.0, usd=1e8),
        v1_record(reporter=CHN, partner=USA, flow="M", kg=20_000.0, usd=6e6),
        v1_record(partner=WORLD, kg=61_000_000.0, usd=1.1e8),
        v1_record(cmd="999999"),
    ])  # fmt: skip
    outputs = {name: tmp_path / "out" / f"{name}.parquet" for name in OUTPUTS}
    trade = dataclasses.replace(TRADE, mirror_rule="max", large_flow_t=10.0)
    run_clean_trade(raw, outputs, COMMODITIES, trade, "files", 2021)
    tables = {name: pd.read_parquet(path) for name, path in outputs.items()}
    trade = tables["trade"]
    assert list(trade.columns) == list(TRADE_COLUMNS)
    assert len(trade) == 1 and trade["basis"].item() == "max" and trade["qty_t"].item() == pytest.approx(60_000.0)
    assert tables["discrepancies"]["reason"].tolist() == ["disputed"]
    assert tables["unmapped"]["cmd_code"].tolist() == ["999999"]
    assert len(tables["reported"]) == 4 and len(tables["world_check"]) == 3


def test_run_clean_trade_writes_nothing_when_the_raw_file_is_bad(tmp_path: Path) -> None:
    raw = raw_year_file(tmp_path / "2021.json", [v1_record(), v1_record(partner=JPN, netWgt=-1.0)])
    outputs = {name: tmp_path / "out" / f"{name}.parquet" for name in OUTPUTS}
    with pytest.raises(ReeflowError, match="netWgt"):
        run_clean_trade(raw, outputs, COMMODITIES, TRADE, "files", 2021)
    assert not any(path.exists() for path in outputs.values())


def test_run_clean_trade_on_a_baci_extract(tmp_path: Path) -> None:
    extract = pd.DataFrame({
        "year": pd.array([2021, 2021], dtype="int32"), "exporter_code": pd.array([156, 842], dtype="int32"),
        "importer_code": pd.array([392, 156], dtype="int32"), "exporter": ["CHN", "USA"], "importer": ["JPN", "CHN"],
        "hs6": ["284690", "284690"], "value_kusd": [100.0, 50.0], "qty_t": [10.0, 20.0],
    })  # fmt: skip
    path = tmp_path / "2021.parquet"
    extract.to_parquet(path)
    outputs = {name: tmp_path / "out" / f"{name}.parquet" for name in OUTPUTS}
    run_clean_trade(path, outputs, COMMODITIES, TRADE, "baci", 2021)
    trade = pd.read_parquet(outputs["trade"])
    assert set(trade["basis"]) == {"reconciled"} and trade["qty_t"].sum() == pytest.approx(30.0)
    assert pd.read_parquet(outputs["reported"]).empty and pd.read_parquet(outputs["discrepancies"]).empty
    coverage = pd.read_parquet(outputs["coverage"])
    assert set(coverage["reporter"]) == {"JPN", "CHN"}


# --------------------------------------------------------------------------------------------
# Real data (read in place)
# --------------------------------------------------------------------------------------------


def test_real_usa_china_file_keeps_every_record(real_data: Path) -> None:
    from reeflow.commodities import load_commodities

    table = load_commodities(Path(__file__).parents[1] / "config" / "commodities.csv")
    commodities = cleaning_records(table)
    records = read_comtrade_file(real_data / "comtrade" / "usa-china-2020-2024" / "usa-china-2846-280530.csv")
    rep, unmapped = reported_from_records(records, commodities, "usa-china.csv")
    assert len(rep) == len(records) and unmapped.empty
    assert set(rep["reporter"]) == {"USA", "CHN"} and set(rep["partner"]) == {"USA", "CHN", "WLD"}
    # The USA's 2020 World import row has netWgt 0: its tonnes come from the quantity field.
    world = rep[(rep["reporter"] == "USA") & rep["is_world"] & (rep["flow"] == "M") & (rep["cmd_code"] == "2846")]
    assert set(world.loc[world["year"].isin([2020, 2021]), "qty_source"]) == {"qty"}
