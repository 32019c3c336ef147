"""USGS downloads resolved through ScienceBase's item JSON API, against a local server on 127.0.0.1.

The server answers ``/catalog/item/{item}`` with an item JSON in ScienceBase's shape (title, files
with name, size, checksum {value, type}, downloadUri) and serves the files it lists. Every CSV body
written here is SYNTHETIC; the one real file (MCS2026 combined release) is read in place from
../shared/data/real and never copied into the repository.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict, deque
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from http_stub import Answer, Recorded, StubServer
from reeflow.acquire.sciencebase import parse_item, pick_file
from reeflow.acquire.usgs import parse_usgs_file, retrieve_usgs
from reeflow.http import HttpError
from reeflow.io import ReeflowError

ITEM = "6798f088d34ea8c18376e7f9"
SALIENT = (
    b"DataSource,Commodity,Year,USprod_Mineralconcentrates_t,Imports_Compounds_t,NIR_pct\r\n"
    b'MCS2025,SYNTHETIC rare earths,2023,"43,000","7,100",95\r\n'
    b'MCS2025,SYNTHETIC rare earths,2024,"45,000","6,800",>95\r\n'
)
WORLD_ALL = (
    b"SOURCE,COMMODITY,COUNTRY,TYPE,UNIT_MEAS,PROD_2023,PROD_EST_ 2024,PROD_NOTES,RESERVES_2024\r\n"
    b'MCS2025,Rare earths,China,"Mine production, rare-earth-oxide equivalent",metric tons,"255,000","270,000",'
    b"SYNTHETIC,44000000\r\n"
    b'MCS2025,Rare earths,United States,"Mine production, rare-earth-oxide equivalent",metric tons,"41,600",'
    b'"45,000",,1900000\r\n'
    b'MCS2025,Rare earths,World total (rounded),"Mine production, rare-earth-oxide equivalent",metric tons,'
    b'"376,000","390,000",,90000000\r\n'
    b'MCS2025,Cobalt,China,"Mine production, cobalt content",metric tons,"1,000","2,000",SYNTHETIC,\r\n'
)


class ScienceBase:
    """A ScienceBase stand-in on the test HTTP stub: routes by path; each path answers from its queue,
    then its default (status, body, content type), else 404."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[tuple[int, bytes, str]]] = defaultdict(deque)
        self.defaults: dict[str, tuple[int, bytes, str]] = {}
        self.server = StubServer(self._route)
        self.url = self.server.base_url

    def _route(self, request: Recorded) -> Answer:
        queue = self.queues[request.path]
        answer = queue.popleft() if queue else self.defaults.get(request.path)
        status, body, ctype = answer or (404, b"no such item", "text/plain")
        return Answer(status=status, body=body, content_type=ctype)

    @property
    def requests(self) -> list[Recorded]:
        return self.server.requests

    def file_entry(self, name: str, body: bytes, *, checksum: dict | None | str = "md5", size: int | None = None):
        """A file as the item JSON lists it, served at /catalog/file/get/{item}?f=__disk__{name}."""
        path = f"/catalog/file/get/{ITEM}/{name}"
        self.defaults[path] = (200, body, "text/csv")
        entry = {"name": name, "title": "", "contentType": "text/csv", "size": len(body) if size is None else size,
                 "downloadUri": f"{self.url}{path}?f=__disk__synthetic",
                 "url": f"{self.url}/catalog/file/get/{ITEM}?f=__disk__other"}  # fmt: skip
        if isinstance(checksum, str):
            entry["checksum"] = {"value": hashlib.new(checksum, body).hexdigest(), "type": checksum.upper()}
        elif checksum is not None:
            entry["checksum"] = checksum
        return entry

    def item(self, files: list[dict], item: str = ITEM, title: str = "SYNTHETIC MCS 2025 - RARE EARTHS") -> None:
        body = json.dumps({"link": {"rel": "self"}, "relatedItems": {}, "id": item, "title": title, "files": files})
        self.defaults[f"/catalog/item/{item}"] = (200, body.encode(), "application/json")

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


@pytest.fixture
def sb() -> Iterator[ScienceBase]:
    site = ScienceBase()
    with site.server:
        yield site


def entry(sb: ScienceBase, file: str, kind: str = "mcs", name: str = "mcs2025-raree_salient.csv") -> dict:
    """What workflow/rules/common.smk usgs_entries() makes of a sciencebase_item entry."""
    return {"kind": kind, "name": name, "source": f"{sb.url}/catalog/item/{ITEM}", "edition": "MCS2025",
            "is_url": True, "sciencebase": {"item": ITEM, "file": file, "base_url": sb.url}}  # fmt: skip


def outputs(tmp_path: Path, kind: str = "mcs", name: str = "mcs2025-raree_salient.csv") -> tuple[Path, Path]:
    return tmp_path / "raw" / kind / name, tmp_path / "provenance" / kind / f"{name}.json"


def written(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if p.is_file()]


def test_pattern_picks_the_file_verifies_md5_and_records_provenance(sb: ScienceBase, tmp_path: Path) -> None:
    salient = sb.file_entry("mcs2025-rareee_salient.csv", SALIENT)
    sb.item([sb.file_entry("mcs2025-rareee_meta.xml", b"<metadata>SYNTHETIC</metadata>"), salient])
    raw, provenance = outputs(tmp_path)
    record = retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, backoff_seconds=0)
    assert raw.read_bytes() == SALIENT
    saved = json.loads(provenance.read_text())
    assert saved == record
    assert saved["sha256"] == hashlib.sha256(SALIENT).hexdigest() and saved["edition"] == "MCS2025"
    sbr = saved["sciencebase"]
    assert sbr["item"] == ITEM and sbr["title"] == "SYNTHETIC MCS 2025 - RARE EARTHS"
    assert sbr["file"] == "mcs2025-rareee_salient.csv" and sbr["file_pattern"] == "mcs2025-rare*_salient.csv"
    assert sbr["download_uri"] == salient["downloadUri"]  # downloadUri, not the older 'url' field
    assert sbr["checksum"] == {"type": "md5", "value": hashlib.md5(SALIENT).hexdigest(), "verified": True}
    assert saved["retrieved_at"].endswith("Z")
    # the item JSON was asked for with the documented query, then the file
    first = sb.requests[0]
    assert first.path == f"/catalog/item/{ITEM}" and first.query == {"format": "json", "fields": "title,files"}
    assert sb.paths()[1:] == [f"/catalog/file/get/{ITEM}/mcs2025-rareee_salient.csv"]
    assert parse_usgs_file(raw, "mcs", "MCS2025")["year"].max() == 2024


def test_sha1_checksum_named_in_the_json_is_used(sb: ScienceBase, tmp_path: Path) -> None:
    sb.item([sb.file_entry("mcs2025-rareee_salient.csv", SALIENT, checksum="sha1")])
    raw, provenance = outputs(tmp_path)
    record = retrieve_usgs(entry(sb, "mcs2025-rareee_salient.csv"), raw, provenance, backoff_seconds=0)
    assert record["sciencebase"]["checksum"]["type"] == "sha1"
    assert record["sciencebase"]["checksum"]["value"] == hashlib.sha1(SALIENT).hexdigest()


def test_checksum_mismatch_is_refused_and_writes_nothing(sb: ScienceBase, tmp_path: Path) -> None:
    wrong = {"value": hashlib.md5(b"another file").hexdigest(), "type": "MD5"}
    sb.item([sb.file_entry("mcs2025-rareee_salient.csv", SALIENT, checksum=wrong)])
    raw, provenance = outputs(tmp_path)
    with pytest.raises(ReeflowError, match="md5 checksum") as err:
        retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, backoff_seconds=0)
    assert ITEM in str(err.value) and "mcs2025-rare*_salient.csv" in str(err.value)
    assert written(tmp_path) == []


def test_size_differing_from_the_item_is_refused(sb: ScienceBase, tmp_path: Path) -> None:
    sb.item([sb.file_entry("mcs2025-rareee_salient.csv", SALIENT, checksum=None, size=len(SALIENT) + 7)])
    raw, provenance = outputs(tmp_path)
    with pytest.raises(ReeflowError, match=f"downloaded {len(SALIENT)} bytes"):
        retrieve_usgs(entry(sb, "mcs2025-rareee_salient.csv"), raw, provenance, backoff_seconds=0)
    assert written(tmp_path) == []


def test_no_matching_file_names_the_item_the_pattern_and_the_files(sb: ScienceBase, tmp_path: Path) -> None:
    sb.item([sb.file_entry("mcs2025-lithium_salient.csv", SALIENT)])
    raw, provenance = outputs(tmp_path)
    with pytest.raises(ReeflowError, match="no file of the item matches") as err:
        retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, backoff_seconds=0)
    message = str(err.value)
    assert ITEM in message and "'mcs2025-rare*_salient.csv'" in message
    assert "mcs2025-lithium_salient.csv" in message and "config usgs.urls" in message
    assert sb.paths() == [f"/catalog/item/{ITEM}"]  # nothing downloaded
    assert written(tmp_path) == []


def test_ambiguous_exact_name_and_pattern_are_refused() -> None:
    files = [{"name": "MCS2026_Commodities_Data.csv", "downloadUri": "https://x/1"},
             {"name": "MCS2026_Commodities_Data.csv", "downloadUri": "https://x/2"},
             {"name": "MCS2026_T7_Critical_Minerals_Salient.csv", "downloadUri": "https://x/3"}]  # fmt: skip
    with pytest.raises(ReeflowError, match="exact name matches 2 files"):
        pick_file(files, ITEM, "MCS2026_Commodities_Data.csv")
    with pytest.raises(ReeflowError, match="pattern matches 3 files"):
        pick_file(files, ITEM, "MCS2026_*.csv")
    assert pick_file(files, ITEM, "MCS2026_T7_*.csv")["downloadUri"] == "https://x/3"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<!DOCTYPE html><html><body>ScienceBase is down for maintenance</body></html>", "did not answer with JSON"),
        (b'{"title": "SYNTHETIC", "files": [', "did not answer with JSON"),
        (b'{"title": "SYNTHETIC folder", "id": "x"}', "no 'files' list"),
        (b'["not", "an", "item"]', "not an object"),
        (b'{"title": "SYNTHETIC", "files": [{"size": 3}]}', "has no 'name'"),
    ],
)
def test_malformed_item_json_is_a_clear_error(sb: ScienceBase, tmp_path: Path, body: bytes, fragment: str) -> None:
    sb.defaults[f"/catalog/item/{ITEM}"] = (200, body, "application/json")
    raw, provenance = outputs(tmp_path)
    with pytest.raises(ReeflowError, match=fragment) as err:
        retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, backoff_seconds=0)
    assert ITEM in str(err.value) and "mcs2025-rare*_salient.csv" in str(err.value)
    assert written(tmp_path) == []


def test_file_without_download_link_is_refused() -> None:
    _, files = parse_item({"title": "t", "files": [{"name": "a.csv", "size": 1}]}, ITEM, "a.csv")
    with pytest.raises(ReeflowError, match="no downloadUri"):
        pick_file(files, ITEM, "a.csv")


def test_503_on_the_item_and_on_the_file_are_retried(sb: ScienceBase, tmp_path: Path) -> None:
    sb.item([sb.file_entry("mcs2025-rareee_salient.csv", SALIENT)])
    sb.queues[f"/catalog/item/{ITEM}"].append((503, b"Service Unavailable", "text/plain"))
    sb.queues[f"/catalog/file/get/{ITEM}/mcs2025-rareee_salient.csv"].append((503, b"busy", "text/plain"))
    raw, provenance = outputs(tmp_path)
    retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, max_tries=3, backoff_seconds=0)
    assert sb.paths() == [f"/catalog/item/{ITEM}"] * 2 + [f"/catalog/file/get/{ITEM}/mcs2025-rareee_salient.csv"] * 2
    assert raw.read_bytes() == SALIENT


def test_http_errors_after_the_retries_name_the_item(sb: ScienceBase, tmp_path: Path) -> None:
    sb.item([sb.file_entry("mcs2025-rareee_salient.csv", SALIENT)])
    sb.defaults[f"/catalog/file/get/{ITEM}/mcs2025-rareee_salient.csv"] = (503, b"down", "text/plain")
    raw, provenance = outputs(tmp_path)
    with pytest.raises(HttpError, match="gave up after 3 tries") as err:
        retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, max_tries=3, backoff_seconds=0)
    assert ITEM in str(err.value) and "mcs2025-rareee_salient.csv" in str(err.value)
    assert written(tmp_path) == []
    sb.defaults.pop(f"/catalog/item/{ITEM}")  # unknown item: a 404, not retried
    sb.requests.clear()
    with pytest.raises(HttpError, match="404") as err:
        retrieve_usgs(entry(sb, "x.csv"), raw, provenance, max_tries=3, backoff_seconds=0)
    assert err.value.status == 404 and ITEM in str(err.value) and len(sb.requests) == 1


def test_world_file_of_all_commodities_keeps_rare_earth_mine_production(sb: ScienceBase, tmp_path: Path) -> None:
    sb.item([sb.file_entry("MCS2025_World_Data.csv", WORLD_ALL)])
    raw, provenance = outputs(tmp_path, "mcs", "mcs2025-world_data.csv")
    retrieve_usgs(entry(sb, "MCS2025_World_Data.csv", name="mcs2025-world_data.csv"), raw, provenance)
    frame = parse_usgs_file(raw, "mcs", "MCS2025")
    assert set(frame["table"]) == {"production"} and set(frame["commodity"]) == {"Rare Earths"}
    values = {(r.country, r.year): (r.value, r.estimated) for r in frame.itertuples()}
    assert values == {("CHN", 2023): (255000.0, False), ("CHN", 2024): (270000.0, True),
                      ("USA", 2023): (41600.0, False), ("USA", 2024): (45000.0, True),
                      ("WLD", 2023): (376000.0, False), ("WLD", 2024): (390000.0, True)}  # fmt: skip
    twice = WORLD_ALL + b'MCS2025,Rare earths,China,"Mine production, bastnaesite",metric tons,1,2,SYNTHETIC,\r\n'
    raw.write_bytes(twice)
    with pytest.raises(ReeflowError, match="several rare-earth mine-production TYPEs"):
        parse_usgs_file(raw, "mcs", "MCS2025")


def test_real_mcs2026_combined_file_through_the_item_json(sb: ScienceBase, tmp_path: Path, real_data: Path) -> None:
    body = (real_data / "usgs" / "usgs_mcs2026_commodities_data.csv").read_bytes()  # read in place, not copied
    sb.item([sb.file_entry("MCS2026_T7_Critical_Minerals_Salient.csv", b"SYNTHETIC,T7\r\n"),
             sb.file_entry("MCS2026_Commodities_Data.csv", body)], title="SYNTHETIC MCS 2026 item")  # fmt: skip
    raw, provenance = outputs(tmp_path, "mcs_combined", "mcs2026-commodities_data.csv")
    item_entry = entry(sb, "MCS2026_Commodities_Data.csv", kind="mcs_combined", name="mcs2026-commodities_data.csv")
    record = retrieve_usgs({**item_entry, "edition": "MCS2026"}, raw, provenance, backoff_seconds=0)
    assert raw.read_bytes() == body and record["sciencebase"]["checksum"]["verified"] is True
    production = parse_usgs_file(raw, "mcs_combined", "MCS2026").query("table == 'production'")
    assert {2024, 2025} <= set(production["year"]) and "CHN" in set(production["country"])


SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


def _usgs_config(repo_root: Path, urls: list[dict]) -> dict:
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    config["usgs"]["urls"] = urls
    return config


def test_shipped_config_fetches_mcs2025_and_mcs2026_through_sciencebase(repo_root: Path) -> None:
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    validate(config, str(repo_root / SCHEMA))
    assert config["usgs"]["sciencebase_url"] == "https://www.sciencebase.gov"  # the schema default
    items = {(u["edition"], u["kind"]): u for u in config["usgs"]["urls"] if "sciencebase_item" in u}
    assert {("MCS2025", "mcs"), ("MCS2026", "mcs_combined")} <= set(items)
    assert items[("MCS2026", "mcs_combined")]["file"] == "MCS2026_Commodities_Data.csv"


@pytest.mark.parametrize(
    ("url_entry", "fragment"),
    [
        ({"kind": "mcs", "name": "a.csv", "sciencebase_item": ITEM}, "valid under"),  # no file
        (
            {"kind": "mcs", "name": "a.csv", "sciencebase_item": ITEM, "file": "a.csv", "url": "https://x/a.csv"},
            "valid under",
        ),  # both forms at once
        ({"kind": "mcs", "name": "a.csv", "sciencebase_item": "not-an-id", "file": "a.csv"}, "not-an-id"),
        ({"kind": "mcs", "name": "a.csv", "sciencebase": ITEM, "file": "a.csv"}, "sciencebase"),
    ],
)
def test_schema_refuses_bad_sciencebase_entries(repo_root: Path, url_entry: dict, fragment: str) -> None:
    with pytest.raises(Exception, match=fragment):
        validate(_usgs_config(repo_root, [url_entry]), str(repo_root / SCHEMA))


def test_a_file_over_max_file_mb_is_refused_and_writes_nothing(sb: ScienceBase, tmp_path: Path) -> None:
    big = SALIENT + b'MCS2025,SYNTHETIC rare earths,2024,"1","1",1\r\n' * 500  # ~24 kB
    sb.item([sb.file_entry("mcs2025-rareee_salient.csv", big)])
    raw, provenance = outputs(tmp_path)
    bound = r"\(download mcs2025-rareee_salient\.csv\) \(http://127\.0\.0\.1.*larger than 8192 bytes.*usgs\.max_file_mb"
    with pytest.raises(ReeflowError, match=bound):  # the item JSON (smaller) passed
        retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, backoff_seconds=0, max_bytes=8192)
    assert written(tmp_path) == []
    with pytest.raises(ReeflowError, match=r"\(item JSON\).*larger than 64 bytes"):
        retrieve_usgs(entry(sb, "mcs2025-rare*_salient.csv"), raw, provenance, backoff_seconds=0, max_bytes=64)
