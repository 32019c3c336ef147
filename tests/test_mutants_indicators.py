"""Hand-built cases for reeflow.mfa.indicators that kill the mutants `make mutation` found alive (docs/mutation.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reeflow.mfa.indicators import headline_table, shortest_path_betweenness, year_indicators
from reeflow.schemas import HEADLINE_COLUMNS


def test_betweenness_of_a_two_country_network_is_zero() -> None:
    out = shortest_path_betweenness(np.array([0]), np.array([1]), np.array([1.0]), 2)
    np.testing.assert_array_equal(out, [0.0, 0.0])


def test_an_empty_headline_table_has_the_contract_columns() -> None:
    table = headline_table([])
    assert table.columns.tolist() == list(HEADLINE_COLUMNS) and table.empty


def test_indicator_years_stay_integers() -> None:
    balance = pd.DataFrame({"country": ["USA", "CHN"], "stage": "mining", "production_t": [10.0, 50.0],
                            "imports_t": [0.0, 8.0], "exports_t": [8.0, 0.0], "apparent_consumption_t": [2.0, 58.0],
                            "net_exports_t": [8.0, -8.0]})  # fmt: skip
    flows = pd.DataFrame({"stage": ["mining"], "exporter": ["USA"], "importer": ["CHN"], "reo_t": [8.0]})
    out = year_indicators(balance, flows, 2020)
    assert out["year"].dtype == np.int64 and (out["year"] == 2020).all()


def test_a_zero_flow_is_no_partner() -> None:
    balance = pd.DataFrame({"country": ["USA", "CHN", "JPN"], "stage": "mining", "production_t": [10.0, 50.0, 0.0],
                            "imports_t": [0.0, 8.0, 0.0], "exports_t": [8.0, 0.0, 0.0],
                            "apparent_consumption_t": [2.0, 58.0, 0.0], "net_exports_t": [8.0, -8.0, 0.0]})  # fmt: skip
    flows = pd.DataFrame({"stage": ["mining", "mining"], "exporter": ["USA", "USA"], "importer": ["CHN", "JPN"],
                          "reo_t": [8.0, 0.0]})  # fmt: skip
    out = year_indicators(balance, flows, 2020)
    assert "JPN" not in set(out.loc[out["partner"] != "", "partner"])
