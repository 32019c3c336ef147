"""One shipment, two codes; national tariff lines beside HS records (SYNTHETIC records, real rows last)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_trade import CHN, JPN, USA, v1_record

from reeflow.clean import hs
from reeflow.clean.declarations import reported_from_records, sum_tariff_line_rows
from reeflow.clean.quality import cross_code_in_reo
from reeflow.clean.reconcile import check_cross_code, reconcile_with_matches
from reeflow.commodities import load_commodities
from reeflow.io import ReeflowError
from reeflow.schemas import TRADE_SCHEMA, validate_table

TABLE: list[dict[str, str]] = [
    {"hs_code": "253090", "stage": "mining", "unit_basis": "t", "revisions": "", "reporter": ""},
    {"hs_code": "25309020", "stage": "mining", "unit_basis": "t", "revisions": "", "reporter": "CHN"},
    {"hs_code": "2530909", "stage": "mining", "unit_basis": "t", "revisions": "", "reporter": "CHN"},
    {"hs_code": "2846", "stage": "separation", "unit_basis": "t", "revisions": "", "reporter": ""},
    {"hs_code": "284690", "stage": "separation", "unit_basis": "t", "revisions": "", "reporter": ""},
    {"hs_code": "2846901", "stage": "separation", "unit_basis": "t", "revisions": "", "reporter": "CHN"},
]
RULE: dict[str, Any] = {
    "id": "mp", "exporter_code": "2846", "importer_code": "253090", "default_code": "25309020",
    "exporters": ["USA"], "importers": ["CHN"], "first_year": 2018, "citation": "synthetic test rule",
}  # fmt: skip


def tariff_line(partner: int = USA, cmd: str = "25309020", kg: float = 60_000_000.0, **extra: Any) -> dict[str, Any]:
    """A SYNTHETIC China import tariff-line record, as reeflow.acquire.tariffline.tariffline_records returns them."""
    return v1_record(reporter=CHN, partner=partner, flow="M", cmd=cmd, kg=kg, rev="H6", isTariffLine=True, **extra)


def run(*records: dict[str, Any], rule: str = "importer_first", cross: list | None = None):
    frame = sum_tariff_line_rows(pd.DataFrame.from_records(list(records)))
    reported, _ = reported_from_records(frame, TABLE, "synthetic.json")
    trade, matches = reconcile_with_matches(
        reported, hs.commodity_frame(TABLE), rule, 2.0, [RULE] if cross is None else cross
    )
    return reported, validate_table(trade, TRADE_SCHEMA, "trade"), matches


def flow(trade: pd.DataFrame, exporter: str, importer: str, code: str) -> pd.Series:
    rows = trade[(trade["exporter"] == exporter) & (trade["importer"] == importer) & (trade["hs6"] == code)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# --------------------------------------------------------------------------------------------
# One shipment, two codes
# --------------------------------------------------------------------------------------------


def test_exporter_compounds_and_importer_ores_become_one_mining_flow() -> None:
    _, trade, matches = run(
        v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=60_000_000.0, year=2023),
        v1_record(reporter=CHN, partner=USA, flow="M", cmd="284690", kg=500_000.0, year=2023, rev="H6"),
        tariff_line(kg=55_000_000.0, year=2023),
    )
    ore = flow(trade, "USA", "CHN", "25309020")
    assert ore["stage"] == "mining" and ore["cross_code"] == "2846"
    assert ore["qty_t_importer"] == pytest.approx(55_000.0)
    assert ore["qty_t_exporter"] == pytest.approx(59_500.0)  # 60 kt declared less the 500 t China booked as 2846
    assert not ore["one_sided"] and ore["basis"] == "importer"
    # the compounds both sides agree on stay at the separation stage, two-sided
    comp = trade[(trade["stage"] == "separation") & (trade["exporter"] == "USA")]
    assert comp["qty_t_exporter"].sum() == pytest.approx(500.0)
    assert comp["qty_t_importer"].sum() == pytest.approx(500.0)
    [match] = matches.to_dict("records")
    assert match["qty_t_exporter_declared"] == pytest.approx(60_000.0)
    assert match["qty_t_moved"] == pytest.approx(59_500.0)
    assert match["qty_t_importer_cross"] == pytest.approx(55_000.0) and match["target"] == "25309020"


def test_missing_importer_declaration_leaves_the_exporter_word_under_the_default_code() -> None:
    _, trade, matches = run(v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=40_000_000.0, year=2020))
    ore = flow(trade, "USA", "CHN", "25309020")
    assert ore["one_sided"] and ore["basis"] == "exporter" and ore["qty_t"] == pytest.approx(40_000.0)
    assert np.isnan(matches["qty_t_importer_cross"].item())
    assert not (trade["stage"] == "separation").any()


@pytest.mark.parametrize("rule", ["importer_first", "exporter_first", "max", "weighted_mean"])
def test_mirror_rules_choose_between_the_matched_declarations(rule: str) -> None:
    _, trade, _ = run(
        v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=60_000_000.0, year=2023),
        tariff_line(kg=25_000_000.0, year=2023),
        rule=rule,
    )
    ore = flow(trade, "USA", "CHN", "25309020")
    expected = {"importer_first": 25_000.0, "exporter_first": 60_000.0, "max": 60_000.0}
    if rule in expected:
        assert ore["qty_t"] == pytest.approx(expected[rule])
    else:
        assert 25_000.0 < ore["qty_t"] < 60_000.0
    assert ore["disputed"]  # more than a factor of two apart


def test_rule_scope_years_and_countries_are_respected() -> None:
    _, before, none = run(v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=9e6, year=2017))
    assert (before["hs6"] == "2846").all() and none.empty
    _, other, none = run(
        v1_record(reporter=USA, partner=JPN, flow="X", cmd="2846", kg=9e6, year=2021),
    )
    assert (other["hs6"] == "2846").all() and none.empty


def test_importer_declaring_the_whole_shipment_under_the_same_code_moves_nothing() -> None:
    _, trade, matches = run(
        v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=1_000_000.0, year=2021),
        v1_record(reporter=CHN, partner=USA, flow="M", cmd="2846", kg=1_200_000.0, year=2021),
    )
    assert matches.empty and (trade["stage"] == "separation").all()


def test_the_default_code_is_the_target_even_beside_larger_non_ree_lines() -> None:
    _, trade, matches = run(
        v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=60_000_000.0, year=2023),
        tariff_line(cmd="25309020", kg=50_000_000.0, year=2023),
        tariff_line(cmd="25309099", kg=90_000_000.0, year=2023),  # other mineral substances, no REE
    )
    [match] = matches.to_dict("records")
    assert match["target"] == "25309020" and match["qty_t_importer_cross"] == pytest.approx(50_000.0)
    assert np.isnan(flow(trade, "USA", "CHN", "2530909")["qty_t_exporter"])  # nothing moved to the non-REE line


def test_cross_code_matches_are_compared_in_reo_equivalent() -> None:
    _, _, matches = run(
        v1_record(reporter=USA, partner=CHN, flow="X", cmd="2846", kg=60_000_000.0, year=2023),
        tariff_line(kg=50_000_000.0, year=2023),
    )
    commodities = pd.DataFrame({
        "hs_code": ["2846", "25309020"], "content_central": [0.75, 0.65], "share_central": [1.0, 1.0],
    })  # fmt: skip
    out = cross_code_in_reo(matches, commodities).iloc[0]
    assert out["reo_t_exporter"] == pytest.approx(60_000 * 0.65)
    assert out["reo_t_importer"] == pytest.approx(50_000 * 0.65)
    assert out["reo_t_exporter_as_declared"] == pytest.approx(60_000 * 0.75)
    assert out["ratio_exporter_to_importer"] == pytest.approx(1.2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"citation": ""}, "citation"),
        ({"default_code": "999999"}, "not a commodity-table row"),
        ({"default_code": "2846901"}, "must start with importer_code"),
        ({"importer_code": "284690", "default_code": "2846901"}, "one family"),
        ({"exporter_code": "28x6"}, "4-10 digit"),
    ],
)
def test_bad_correspondences_are_reported(change: dict[str, str], message: str) -> None:
    with pytest.raises(ReeflowError, match=message):
        check_cross_code([RULE | change], [row["hs_code"] for row in TABLE])


# --------------------------------------------------------------------------------------------
# National tariff lines
# --------------------------------------------------------------------------------------------


def test_national_lines_supersede_the_reporters_hs_records_of_their_parent() -> None:
    reported, trade, _ = run(
        v1_record(reporter=CHN, partner=JPN, flow="M", cmd="253090", kg=5_000_000.0, year=2023, rev="H6"),
        tariff_line(partner=JPN, cmd="25309099", kg=4_000_000.0, year=2023),
        tariff_line(partner=USA, cmd="25309020", kg=1_000_000.0, year=2023),
        cross=[],
    )
    status = reported.set_index("cmd_code")["map_status"]
    assert status["253090"] == hs.SUPERSEDED
    assert reported.set_index("cmd_code").loc["25309099", "hs6"] == "2530909"
    assert set(trade["hs6"]) == {"2530909", "25309020"}


def test_national_line_without_its_own_row_maps_to_its_hs6_parent() -> None:
    reported, trade, _ = run(tariff_line(partner=JPN, cmd="28469099", kg=2_000.0, year=2023), cross=[])
    row = reported.iloc[0]
    assert row["hs6"] == "284690" and row["map_status"] == hs.NATIONAL_PARENT
    assert flow(trade, "JPN", "CHN", "284690")["qty_t"] == pytest.approx(2.0)


def test_national_rows_belong_to_their_reporter_only() -> None:
    # a Japanese record under China's national code is not China's line: it takes the HS6 parent
    reported, _, _ = run(
        v1_record(reporter=JPN, partner=CHN, flow="M", cmd="25309020", kg=1000.0, year=2023, rev="H6"), cross=[]
    )
    assert reported["hs6"].item() == "253090" and reported["map_status"].item() == hs.NATIONAL_PARENT


def test_tariff_line_rows_of_one_declaration_are_summed_not_dropped() -> None:
    reported, trade, _ = run(
        tariff_line(partner=JPN, cmd="28469011", kg=1_000.0, year=2023),
        tariff_line(partner=JPN, cmd="28469011", kg=3_000.0, year=2023),
        cross=[],
    )
    assert reported["qty_t"].item() == pytest.approx(4.0)
    assert flow(trade, "JPN", "CHN", "2846901")["qty_t"] == pytest.approx(4.0)


def test_partner_hs_declaration_is_split_over_the_national_lines() -> None:
    _, trade, _ = run(
        v1_record(reporter=JPN, partner=CHN, flow="X", cmd="284690", kg=10_000.0, year=2023),
        tariff_line(partner=JPN, cmd="28469011", kg=3_000.0, year=2023),
        tariff_line(partner=JPN, cmd="28469099", kg=1_000.0, year=2023),
        cross=[],
    )
    oxides = flow(trade, "JPN", "CHN", "2846901")
    other = flow(trade, "JPN", "CHN", "284690")
    assert oxides["qty_t_exporter"] == pytest.approx(7.5) and oxides["qty_t_importer"] == pytest.approx(3.0)
    assert other["qty_t_exporter"] == pytest.approx(2.5) and other["qty_t_importer"] == pytest.approx(1.0)
    assert trade["qty_t_exporter"].sum() == pytest.approx(10.0)  # the split conserves the declaration


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"hs_code": "25309020", "reporter": ""}, "need column reporter"),
        ({"hs_code": "2846", "reporter": "CHN"}, "only for national lines"),
        ({"hs_code": "99999999", "reporter": "CHN"}, "parent"),
        ({"hs_code": "25309020", "reporter": "China"}, "ISO3"),
    ],
)
def test_commodity_table_national_rows_are_checked(tmp_path, row: dict[str, str], message: str) -> None:
    base = {
        "stage": "mining", "description": "x", "unit_basis": "t", "item_mass_t": "", "content_low": 0.6,
        "content_central": 0.65, "content_high": 0.7, "share_low": 1, "share_central": 1, "share_high": 1,
        "revisions": "", "include": "true", "citation": "synthetic",
    }  # fmt: skip
    rows = [base | {"hs_code": "253090", "reporter": ""}, base | row]
    path = tmp_path / "commodities.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.raises(ReeflowError, match=message):
        load_commodities(path)


def test_real_china_tariff_lines_meet_the_usa_declarations(real_data) -> None:
    """REAL: the USA's 2023 HS 2846 exports to China meet China's 2530.90.20 imports from the USA."""
    from reeflow.acquire.raw import read_comtrade_file

    usa = read_comtrade_file(real_data / "comtrade/usa-china-2020-2024/usa-china-2846-280530.csv")
    usa = usa[(usa["refYear"] == 2023) & (usa["reporterCode"] == USA)]
    rows = pd.read_json(real_data / "comtrade/china-tariffline-2023-2025/china_253090_tariffline.json").loc[:, "rows"]
    lines = pd.DataFrame.from_records(list(rows))
    lines = lines[(lines["period"] == 2023) & (lines["partnerCode"] == 840)]
    records = [tariff_line(partner=USA, cmd=str(r.cmdCode), kg=float(r.netWgt), year=2023) for r in lines.itertuples()]
    table = load_commodities("config/commodities.csv")
    frame = sum_tariff_line_rows(pd.concat([usa, pd.DataFrame.from_records(records)], ignore_index=True))
    reported, _ = reported_from_records(frame, table.to_dict("records"), "real", 2023)
    trade, matches = reconcile_with_matches(reported, hs.commodity_frame(table.to_dict("records")), "importer_first",
                                            2.0, [RULE])  # fmt: skip
    ore = flow(trade, "USA", "CHN", "25309020")
    assert ore["qty_t_importer"] == pytest.approx(66_249, rel=0.01)
    # the two sides of one shipment, 2023: the USA declares 32 kt of 2846, China 66 kt of ores
    assert ore["qty_t_exporter"] == pytest.approx(32_247, rel=0.01)  # China's own 2846 rows are not loaded here
    assert len(matches) >= 1
