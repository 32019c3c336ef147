"""A local stand-in for the Comtrade v1 API: the test HTTP stub (http_stub.py) with Comtrade's answers.

Answers come from a queue of canned ``Answer``s (served in order), then from a handler function
(for example ``filtering_handler``, which answers like Comtrade from a pool of records and truncates
at maxRecords). Every request's path, query and headers are recorded for the tests to inspect.
Records built here are SYNTHETIC; real recorded answers are served by ``real_year_handler`` from the
shared folder, read in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from http_stub import Answer, Handler, Recorded, StubServer, free_port
from reeflow.acquire.raw import V1_FIELDS  # noqa: E402  (the 47 fields of a Comtrade v1 record)


def envelope(records: list[dict[str, Any]], error: str = "") -> str:
    """A Comtrade v1 JSON envelope around ``records``, as the API sends it."""
    return json.dumps({"elapsedTime": "0.01 secs", "count": len(records), "data": records, "error": error})


def synthetic_record(
    year: int = 2021, reporter: int = 156, flow: str = "M", cmd: str = "2846", partner: int = 0, **extra: Any
) -> dict[str, Any]:
    """A SYNTHETIC record with all 47 v1 fields; quantities derive from the keys so each is distinct."""
    qty = float(1000 + reporter * 7 + partner * 3 + int(cmd[:4]) % 97 + year % 13 + (flow == "X") * 11)
    record: dict[str, Any] = {name: None for name in V1_FIELDS}
    record.update(
        typeCode="C", freqCode="A", refPeriodId=year * 10000 + 101, refYear=year, refMonth=52,
        period=str(year), reporterCode=reporter, reporterISO="", reporterDesc="", flowCode=flow, flowDesc="",
        partnerCode=partner, partnerISO="", partnerDesc="", partner2Code=0, partner2ISO="W00",
        partner2Desc="World", classificationCode="H5", classificationSearchCode="HS",
        isOriginalClassification=True, cmdCode=cmd, cmdDesc="synthetic", aggrLevel=len(cmd),
        isLeaf=len(cmd) == 6,
        customsCode="C00", customsDesc="TOTAL CPC", mosCode="0", motCode=0, motDesc="TOTAL MOT",
        qtyUnitCode=8, qtyUnitAbbr="kg", qty=qty, isQtyEstimated=False, altQtyUnitCode=-1,
        altQtyUnitAbbr="N/A", altQty=0.0, isAltQtyEstimated=False, netWgt=qty, isNetWgtEstimated=False,
        grossWgt=0.0, isGrossWgtEstimated=False, cifvalue=qty * 3.0 if flow == "M" else None,
        fobvalue=qty * 2.0 if flow == "X" else None, primaryValue=qty * 3.0, legacyEstimationFlag=0,
        isReported=True, isAggregate=True,
    )  # fmt: skip
    record.update(extra)
    return record


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a record in a Comtrade answer (year, reporter, flow, code, partner)."""
    return (
        int(record["refYear"]), int(record["reporterCode"]), str(record["flowCode"]), str(record["cmdCode"]),
        int(record["partnerCode"]),
    )  # fmt: skip


def _listed(query: dict[str, str], name: str) -> set[str] | None:
    value = query.get(name)
    return None if value is None else set(value.split(","))


def filtering_handler(pool: list[dict[str, Any]]) -> Handler:
    """Answer like Comtrade: the records of ``pool`` matching the query, cut at maxRecords."""

    def handle(request: Recorded) -> Answer:
        q = request.query
        periods, reporters = _listed(q, "period"), _listed(q, "reporterCode")
        flows, codes = _listed(q, "flowCode"), _listed(q, "cmdCode")
        hits = [
            r for r in pool
            if (periods is None or str(r["refYear"]) in periods)
            and (reporters is None or str(r["reporterCode"]) in reporters)
            and (flows is None or r["flowCode"] in flows)
            and (codes is None or r["cmdCode"] in codes)
        ]  # fmt: skip
        cap = int(q.get("maxRecords", "500"))
        return Answer(body=envelope(hits[:cap]))

    return handle


def real_year_handler(real_dir: Path) -> Handler:
    """Serve the real recorded China-imports answers (china-imports-2846/{period}.json) verbatim."""
    folder = real_dir / "comtrade" / "china-imports-2846"

    def handle(request: Recorded) -> Answer:
        path = folder / f"{request.query.get('period', '')}.json"
        if not path.is_file():
            return Answer(body=envelope([]))
        return Answer(body=path.read_bytes())

    return handle


ComtradeServer = StubServer  # the Comtrade stand-in is the generic stub with the handlers above


@pytest.fixture
def comtrade_server() -> Iterator[ComtradeServer]:
    """A running server with nothing scripted: queue answers or set ``.handler`` in the test."""
    with ComtradeServer() as server:
        yield server


# --------------------------------------------------------------------------------------------
# Data availability (getDA): what `make update` asks before refetching a year

AVAILABILITY_PATHS = (
    "/public/v1/getDA/", "/data/v1/getDa/", "/public/v1/getDATariffline/", "/data/v1/getDaTariffline/",
)  # fmt: skip


def availability_record(
    year: int, reporter: int, released: str = "2024-02-01T00:00:00", checksum: int = 1000, classification: str = "H5"
) -> dict[str, Any]:
    """A SYNTHETIC data-availability record in the fields of Comtrade's getDA answer."""
    return {
        "datasetCode": int(f"{reporter}{year}"), "typeCode": "C", "freqCode": "A", "period": year,
        "reporterCode": reporter, "reporterISO": "", "reporterDesc": "", "classificationCode": classification,
        "isOriginalClassification": True, "totalRecords": 10, "datasetChecksum": checksum,
        "firstReleased": "2023-06-01T00:00:00", "lastReleased": released,
    }  # fmt: skip


def is_availability(request: Recorded) -> bool:
    return request.path.startswith(AVAILABILITY_PATHS)


def availability_handler(availability: list[dict[str, Any]], data: Handler) -> Handler:
    """getDA (keyed, keyless, tariff lines) from ``availability`` filtered by period and reporterCode,
    every other request from ``data``; both may be changed between calls to stage a revision."""

    def handle(request: Recorded) -> Answer:
        if not is_availability(request):
            return data(request)
        periods, reporters = _listed(request.query, "period"), _listed(request.query, "reporterCode")
        hits = [
            r for r in availability
            if (periods is None or str(r["period"]) in periods)
            and (reporters is None or str(r["reporterCode"]) in reporters)
        ]  # fmt: skip
        return Answer(body=envelope(hits))

    return handle


__all__ = ["Answer", "ComtradeServer", "Handler", "Recorded", "availability_handler", "availability_record",
           "comtrade_server", "envelope", "filtering_handler", "free_port", "is_availability", "real_year_handler",
           "record_key", "synthetic_record"]
