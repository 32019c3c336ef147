"""CEPII BACI source: streamed extract from SYNTHETIC archives in BACI's layout, and the trade contract."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from comtrade_server import Answer, ComtradeServer
from reeflow.acquire.baci import (
    TRADE_COLUMNS,
    CodeFilter,
    applicable_commodities,
    clean_baci_year,
    country_member,
    detect_version,
    download_archive,
    download_url,
    extract_year,
    map_to_table,
    read_country_codes,
    read_extract_provenance,
    register_archive,
    year_member,
)
from reeflow.io import ReeflowError, sha256_file

ROOT = Path(__file__).resolve().parents[1]
VERSION = "202601"
YEAR = 2021
# SYNTHETIC country table in the release's layout (codes follow Comtrade; 490 has BACI's S19).
COUNTRIES = (
    "country_code,country_name,country_iso2,country_iso3\n"
    '156,China,CN,CHN\n344,"China, Hong Kong SAR",HK,HKG\n446,"China, Macao SAR",MO,MAC\n'
    '842,USA,US,USA\n392,Japan,JP,JPN\n276,Germany,DE,DEU\n490,"Other Asia, nes",,S19\n'
)
# SYNTHETIC commodity params as commodity_map() passes them.
COMMODITIES = [
    {"hs_code": "2846", "stage": "separation", "unit_basis": "t", "revisions": ""},
    {"hs_code": "284690", "stage": "separation", "unit_basis": "t", "revisions": ""},
    {"hs_code": "280530", "stage": "metal", "unit_basis": "t", "revisions": ""},
    {"hs_code": "850750", "stage": "intermediate", "unit_basis": "t", "revisions": "H4|H5|H6"},
    {"hs_code": "870390", "stage": "final", "unit_basis": "item", "revisions": "H0|H1|H2|H3|H4"},
    {"hs_code": "030111", "stage": "final", "unit_basis": "t", "revisions": ""},
]
CODES = [c["hs_code"] for c in COMMODITIES]

# SYNTHETIC year rows: t,i,j,k,v,q exactly as BACI writes them (q right-aligned, "NA" when missing).
ROWS = [
    "2021,156,842,284690,1000.5,       250.0",  # kept
    "2021,156,842,284610,10.0,           NA",  # 4-digit child (2846), quantity missing
    "2021,156,392,284610,20.0,         5.0",  # 4-digit child, unit value 4000 USD/t
    "2021,156,392,284620,60.0,        15.0",  # another child of 2846 (same flow after mapping)
    "2021,842,156,280530,3.0,",  # blank quantity
    "2021,276,842,30111,7.0,          0.5",  # code that lost its leading zero (030111)
    "2021,156,344,280530,2.0,         0.2",  # CHN -> HKG round trip
    "2021,490,842,850750,9.0,         1.0",  # HS2012-only code: extracted but not H0
    "2021,392,842,870390,5000.0,     100.0",  # item-basis code
    "2021,842,392,851762,999.0,      10.0",  # not in the table: dropped
    "2021,842,392,281000,1.0,         1.0",  # not in the table: dropped
]


def write_baci_zip(
    path: Path, rows: list[str] = ROWS, version: str = VERSION, year: int = YEAR, folder: str = ""
) -> Path:
    """A SYNTHETIC release zip laid out as CEPII ships it."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(folder + year_member(year, version), "t,i,j,k,v,q\n" + "\n".join(rows) + "\n")
        zf.writestr(folder + country_member(version), COUNTRIES)
        zf.writestr(folder + "Readme.txt", "SYNTHETIC release for tests\n")
    return path


def write_baci_folder(path: Path, rows: list[str] = ROWS) -> Path:
    path.mkdir()
    (path / year_member(YEAR, VERSION)).write_text("t,i,j,k,v,q\n" + "\n".join(rows) + "\n")
    (path / country_member(VERSION)).write_text(COUNTRIES)
    return path


@pytest.fixture
def baci_zip(tmp_path: Path) -> Path:
    return write_baci_zip(tmp_path / f"BACI_HS92_V{VERSION}.zip")


def extract(archive: Path, out_dir: Path, **kwargs: object) -> tuple[Path, pd.DataFrame]:
    prov = out_dir / "archive_provenance.json"
    register_archive(archive, prov)
    out = out_dir / f"{YEAR}.parquet"
    extract_year(archive, YEAR, CODES, out, prov, **kwargs)  # type: ignore[arg-type]
    return out, pd.read_parquet(out)


def test_extract_keeps_table_codes_and_pads_lost_zeros(baci_zip: Path, tmp_path: Path) -> None:
    out, frame = extract(baci_zip, tmp_path / "out")
    assert set(frame["hs6"]) == {"284690", "284610", "284620", "280530", "030111", "850750", "870390"}
    assert frame["hs6"].str.len().eq(6).all()
    assert not frame["hs6"].isin(["851762", "281000"]).any()
    assert len(frame) == len(ROWS) - 2


def test_extract_parses_missing_quantities_and_countries(baci_zip: Path, tmp_path: Path) -> None:
    _, frame = extract(baci_zip, tmp_path / "out")
    missing = frame[frame["hs6"].isin(["284610", "280530"]) & frame["importer"].isin(["USA", "CHN"])]
    assert missing["qty_t"].isna().all() and len(missing) == 2
    assert frame.loc[frame["hs6"] == "284690", "qty_t"].item() == pytest.approx(250.0)
    # Release's ISO3 where usable; "S19" (Other Asia, nes) falls back to the Comtrade convention.
    assert set(frame["exporter"]) == {"CHN", "USA", "DEU", "TWN", "JPN"}
    assert (frame.loc[frame["exporter_code"] == 156, "exporter"] == "CHN").all()


def test_extract_provenance_in_parquet_metadata(baci_zip: Path, tmp_path: Path) -> None:
    out, _ = extract(baci_zip, tmp_path / "out")
    prov = read_extract_provenance(out)
    assert prov["archive_sha256"] == sha256_file(baci_zip)
    assert prov["member"] == year_member(YEAR, VERSION)
    assert prov["version"] == VERSION
    assert prov["rows_read"] == len(ROWS) and prov["rows_kept"] == len(ROWS) - 2
    assert prov["retrieved_at"].endswith("Z")
    with zipfile.ZipFile(baci_zip) as zf:
        assert prov["member_crc32"] == f"{zf.getinfo(year_member(YEAR, VERSION)).CRC:08x}"


def test_small_blocks_give_the_same_rows(baci_zip: Path, tmp_path: Path) -> None:
    """Streaming in many tiny blocks must keep exactly what one big block keeps."""
    _, whole = extract(baci_zip, tmp_path / "a")
    _, streamed = extract(baci_zip, tmp_path / "b", block_bytes=64)
    pd.testing.assert_frame_equal(whole, streamed)


def test_unpacked_folder_matches_zip(baci_zip: Path, tmp_path: Path) -> None:
    folder = write_baci_folder(tmp_path / "unpacked")
    _, from_zip = extract(baci_zip, tmp_path / "a")
    _, from_dir = extract(folder, tmp_path / "b")
    pd.testing.assert_frame_equal(from_zip, from_dir)
    prov = json.loads((tmp_path / "b" / "archive_provenance.json").read_text())
    assert prov["kind"] == "folder"
    member = year_member(YEAR, VERSION)
    assert prov["members"][member]["sha256"] == sha256_file(folder / member)


def test_nested_folder_inside_zip_is_found(tmp_path: Path) -> None:
    archive = write_baci_zip(tmp_path / "nested.zip", folder="BACI_HS92_V202601/")
    assert detect_version(archive) == VERSION
    _, frame = extract(archive, tmp_path / "out")
    assert len(frame) == len(ROWS) - 2


def test_truncated_archive_is_a_clear_error_and_writes_nothing(baci_zip: Path, tmp_path: Path) -> None:
    data = baci_zip.read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(data[: len(data) // 2])
    out_dir = tmp_path / "out"
    with pytest.raises(ReeflowError, match=r"broken\.zip.*(corrupt|truncated)"):
        register_archive(broken, out_dir / "archive_provenance.json")
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_corrupt_member_data_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    rows = [f"2021,156,842,284690,{i}.5,{i}.0" for i in range(3000)]
    archive = write_baci_zip(tmp_path / "bad.zip", rows=rows)
    good_prov = tmp_path / "archive_provenance.json"
    register_archive(archive, good_prov)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(year_member(YEAR, VERSION))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for offset in range(start + 20, start + info.compress_size - 20, 7):
        data[offset] ^= 0x5A
    archive.write_bytes(bytes(data))
    out = tmp_path / "out" / f"{YEAR}.parquet"
    with pytest.raises(ReeflowError, match=r"bad\.zip.*BACI_HS92_Y2021"):
        extract_year(archive, YEAR, CODES, out, good_prov)
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_missing_year_names_the_member(baci_zip: Path, tmp_path: Path) -> None:
    prov = tmp_path / "p.json"
    register_archive(baci_zip, prov)
    with pytest.raises(ReeflowError, match=r"BACI 2019: the HS92 release V202601 .* holds years 2021-2021, not 2019"):
        extract_year(baci_zip, 2019, CODES, tmp_path / "2019.parquet", prov)
    record = json.loads(prov.read_text())
    prov.write_text(json.dumps({k: v for k, v in record.items() if k != "years"}))  # a record that lists none
    with pytest.raises(ReeflowError, match="BACI_HS92_Y2019_V202601.csv not found"):
        extract_year(baci_zip, 2019, CODES, tmp_path / "2019.parquet", prov)


def test_wrong_columns_are_named(tmp_path: Path) -> None:
    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(year_member(YEAR, VERSION), "year,exp,imp,code,value\n2021,1,2,284690,3\n")
        zf.writestr(country_member(VERSION), COUNTRIES)
    prov = tmp_path / "p.json"
    register_archive(archive, prov)
    with pytest.raises(ReeflowError, match="odd.zip.*(missing column|t,i,j,k)"):
        extract_year(archive, YEAR, CODES, tmp_path / "o.parquet", prov)


def test_version_detection_and_mismatch(baci_zip: Path) -> None:
    assert detect_version(baci_zip) == VERSION
    with pytest.raises(ReeflowError, match="baci.version"):
        detect_version(baci_zip, "202401")


def test_country_table_older_layout(tmp_path: Path) -> None:
    """Releases before 2023 name the columns iso_3digit_alpha etc.; both layouts read the same."""
    archive = tmp_path / "old.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(
            country_member("202201"),
            "country_code,country_name_abbreviation,country_name_full,"
            "iso_2digit_alpha,iso_3digit_alpha\n156,China,China,CN,CHN\n251,France,France,FR,FRA\n",
        )
    assert read_country_codes(archive, "202201") == {156: "CHN", 251: "FRA"}


def test_download_streams_and_records_sha256(baci_zip: Path, tmp_path: Path) -> None:
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None})
    serve_dir = str(baci_zip.parent)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=serve_dir))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = download_url(f"http://127.0.0.1:{server.server_port}/BACI_HS92_V{{version}}.zip", VERSION)
        out = tmp_path / "dl" / "release.zip"
        record = download_archive(url, out, tmp_path / "dl" / "release.download.json", max_tries=1)
        assert record["sha256"] == sha256_file(baci_zip) == sha256_file(out)
        record_path = tmp_path / "dl" / "release.download.json"
        prov = register_archive(out, tmp_path / "dl" / "prov.json", download_record=record_path)
        assert prov["source"] == url
        missing = tmp_path / "dl" / "missing.zip"
        with pytest.raises(ReeflowError, match="404"):
            download_archive(url.replace("V202601", "V199901"), missing, tmp_path / "m.json", max_tries=1)
        assert not missing.exists()
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- clean_baci_year: the trade contract


@pytest.fixture
def extract_path(baci_zip: Path, tmp_path: Path) -> Path:
    out, _ = extract(baci_zip, tmp_path / "out")
    return out


def test_clean_contract_columns_and_dtypes(extract_path: Path) -> None:
    trade = clean_baci_year(extract_path, COMMODITIES, True)
    assert tuple(trade.columns) == TRADE_COLUMNS
    assert trade["year"].dtype == "int64"
    for col in ("exporter", "importer", "hs6", "stage", "basis"):
        assert pd.api.types.is_string_dtype(trade[col]), col
    for col in ("disputed", "one_sided", "imputed", "hk_roundtrip", "reexport"):
        assert trade[col].dtype == bool, col
    assert (trade["basis"] == "reconciled").all()
    assert trade[["qty_items", "qty_t_importer", "qty_t_exporter", "discrepancy_ratio"]].isna().all().all()
    assert not trade[["disputed", "one_sided", "reexport"]].any().any()
    assert not trade.duplicated(["year", "exporter", "importer", "hs6"]).any()


def test_clean_maps_codes_revisions_and_values(extract_path: Path) -> None:
    trade = clean_baci_year(extract_path, COMMODITIES, False)
    assert "850750" not in set(trade["hs6"])  # HS2012 code does not apply to HS92
    assert set(trade["hs6"]) <= {c["hs_code"] for c in COMMODITIES}
    raw = pd.read_parquet(extract_path)
    # 284610 and 284620 from CHN to JPN both map to heading 2846: one flow, values added.
    to_jpn = trade[(trade["exporter"] == "CHN") & (trade["importer"] == "JPN") & (trade["hs6"] == "2846")]
    parts = raw[(raw["exporter"] == "CHN") & (raw["importer"] == "JPN") & raw["hs6"].str.startswith("2846")]
    assert to_jpn["value_usd"].item() == pytest.approx(parts["value_kusd"].sum() * 1000)
    assert to_jpn["qty_t"].item() == pytest.approx(parts["qty_t"].sum())
    assert trade.loc[trade["hs6"] == "284690", "stage"].item() == "separation"
    assert not trade["imputed"].any()
    assert trade.loc[(trade["hs6"] == "280530") & (trade["exporter"] == "USA"), "qty_t"].isna().all()


def test_clean_imputes_missing_tonnes_from_median_unit_value(extract_path: Path) -> None:
    trade = clean_baci_year(extract_path, COMMODITIES, True)
    raw = pd.read_parquet(extract_path)
    known = raw[(raw["hs6"] == "284610") & raw["qty_t"].gt(0)]
    uv = (known["value_kusd"] * 1000 / known["qty_t"]).median()
    row = trade[(trade["exporter"] == "CHN") & (trade["importer"] == "USA") & (trade["hs6"] == "2846")]
    assert row["imputed"].item()
    assert row["qty_t"].item() == pytest.approx(row["value_usd"].item() / uv)
    # 280530: the only known unit value is CHN->HKG, so USA->CHN is imputed from it.
    assert trade["imputed"].sum() == 2
    assert trade.loc[~trade["imputed"], "qty_t"].notna().all()


def test_clean_flags_hk_round_trips(extract_path: Path) -> None:
    trade = clean_baci_year(extract_path, COMMODITIES, True)
    flagged = trade[trade["hk_roundtrip"]]
    assert len(flagged) == 1
    assert (flagged["exporter"].item(), flagged["importer"].item()) == ("CHN", "HKG")


def test_clean_names_a_bad_extract(tmp_path: Path) -> None:
    path = tmp_path / "2021.parquet"
    pd.DataFrame({"year": [2021]}).to_parquet(path)
    with pytest.raises(ReeflowError, match=r"2021\.parquet.*missing column"):
        clean_baci_year(path, COMMODITIES, True)


def test_applicable_commodities_keeps_h0_rows_only() -> None:
    codes = set(applicable_commodities(COMMODITIES)["hs_code"])
    assert "850750" not in codes and {"870390", "2846", "284690"} <= codes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=999_999), min_size=1, max_size=40))
def test_code_filter_matches_string_rule(ks: list[int]) -> None:
    """Integer filtering equals the textual rule on zero-padded codes (exact 6-digit or 4-digit prefix)."""
    import pyarrow as pa

    flt = CodeFilter.from_codes(CODES)
    got = np.asarray(flt.mask(pa.array(ks, type=pa.int32())).to_pylist())
    padded = [f"{k:06d}" for k in ks]
    six = {c for c in CODES if len(c) == 6}
    four = {c for c in CODES if len(c) == 4}
    expected = np.asarray([p in six or p[:4] in four for p in padded])
    assert (got == expected).all()
    mapped = map_to_table(pd.Series(padded, dtype="str"), applicable_commodities(COMMODITIES))
    assert ((mapped != "").to_numpy() == (expected & (np.asarray(padded) != "850750"))).all()


def test_extract_is_stream_filtered_on_a_larger_year(tmp_path: Path) -> None:
    """A 200k-row year: output equals a pandas filter of the whole file (the slow, obvious way)."""
    rng = np.random.default_rng(1)
    n = 200_000
    k = rng.choice([284690, 284610, 280530, 30111, 851762, 281000, 100199], size=n)
    q = np.round(rng.uniform(0, 100, size=n), 3).astype(str)
    q[rng.random(n) < 0.1] = "NA"
    frame = pd.DataFrame(
        {
            "t": YEAR,
            "i": rng.choice([156, 842, 392], n),
            "j": rng.choice([276, 344], n),
            "k": k,
            "v": np.round(rng.uniform(0, 1e3, n), 3),
            "q": q,
        }
    )
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(year_member(YEAR, VERSION), frame.to_csv(index=False))
        zf.writestr(country_member(VERSION), COUNTRIES)
    out, got = extract(archive, tmp_path / "out", block_bytes=1 << 16)
    want = frame[frame["k"].isin([284690, 284610, 280530, 30111])]
    assert len(got) == len(want)
    assert got["value_kusd"].sum() == pytest.approx(want["v"].sum())
    assert got["qty_t"].isna().sum() == (want["q"] == "NA").sum()
    assert pq.ParquetFile(out).metadata.num_rows == len(want)


@pytest.mark.workflow
def test_rules_extract_a_local_archive(baci_zip: Path, tmp_path: Path) -> None:
    """The real snakemake CLI: register + extract from baci.archive, nothing downloaded."""
    work = tmp_path / "run"
    work.mkdir()
    config = work / "config.yaml"
    config.write_text(
        f"years: {{start: {YEAR}, end: {YEAR}}}\ncommodities: {ROOT / 'config' / 'commodities.csv'}\n"
        f"comtrade: {{source: baci}}\nbaci: {{releases: [{{hs: HS92, first_year: 1995, archive: {baci_zip}}}]}}\n"
        "usgs: {source: files, files: []}\n"
    )
    snakefile = str(ROOT / "Snakefile")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", snakefile, "--directory", str(work),
           "--cores", "2", f"resources/raw/baci/{YEAR}.parquet", "--configfile", str(config)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "COMTRADE_API_KEY"}
    run = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = work / "resources" / "raw" / "baci" / f"{YEAR}.parquet"
    assert read_extract_provenance(out)["archive_sha256"] == sha256_file(baci_zip)
    assert (work / "logs" / "acquire" / f"baci_extract_{YEAR}.log").exists()
    assert not (work / "resources" / "raw" / "baci" / f"BACI_HS92_V{VERSION}.zip").exists()


def test_year_without_table_codes_gives_empty_typed_tables(tmp_path: Path) -> None:
    archive = write_baci_zip(tmp_path / "none.zip", rows=["2021,842,392,851762,999.0,10.0"])
    out, frame = extract(archive, tmp_path / "out")
    assert frame.empty and list(frame.columns) == pq.read_schema(out).names
    trade = clean_baci_year(out, COMMODITIES, True)
    assert trade.empty and tuple(trade.columns) == TRADE_COLUMNS
    assert trade["imputed"].dtype == bool and trade["qty_t"].dtype == "float64"


def test_wrong_year_inside_the_file_is_named(tmp_path: Path) -> None:
    archive = write_baci_zip(tmp_path / "mixed.zip", rows=["2020,156,842,284690,1.0,1.0"])
    with pytest.raises(ReeflowError, match=r"mixed\.zip.*column t holds year\(s\) \[2020\]"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / f"{YEAR}.parquet").exists()


# ---------------------------------------------------------------- download: cuts, checksums, bounds, leftovers


def release_url(server: ComtradeServer) -> str:
    return download_url(server.base_url + "/BACI_HS92_V{version}.zip", VERSION)


def test_a_truncated_download_is_retried_and_the_whole_file_kept(baci_zip: Path, tmp_path: Path) -> None:
    body = baci_zip.read_bytes()
    out, record_path = tmp_path / "dl" / "release.zip", tmp_path / "dl" / "release.download.json"
    with ComtradeServer() as server:
        server.queue(Answer(body=body, truncate_at=len(body) // 2, content_type="application/zip"),
                     Answer(body=body, content_type="application/zip"))  # fmt: skip
        record = download_archive(release_url(server), out, record_path, max_tries=2)
    assert len(server.requests) == 2 and record["bytes"] == len(body)
    assert record["sha256"] == sha256_file(baci_zip) == sha256_file(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["release.download.json", "release.zip"]


def test_a_download_truncated_every_time_fails_and_keeps_only_the_partial_file(baci_zip: Path, tmp_path: Path) -> None:
    body = baci_zip.read_bytes()
    out = tmp_path / "dl" / "release.zip"
    with ComtradeServer() as server:
        server.queue(*[Answer(body=body, truncate_at=100, content_type="application/zip")] * 2)
        with pytest.raises(ReeflowError, match=r"BACI release http://127\.0\.0\.1.*download failed.*rerun to resume"):
            download_archive(release_url(server), out, tmp_path / "dl" / "r.json", max_tries=2, chunk_bytes=50,
                             backoff_seconds=0.01)  # fmt: skip
    assert len(server.requests) == 2
    # no archive and no record: only the partial file (and its record) that the next run resumes from
    assert sorted(p.name for p in out.parent.iterdir()) == ["release.zip.part", "release.zip.part.json"]
    assert (out.parent / "release.zip.part").read_bytes() == body[:100]


def test_an_archive_whose_sha256_differs_from_the_download_record_is_refused(baci_zip: Path, tmp_path: Path) -> None:
    out, record_path = tmp_path / "dl" / "release.zip", tmp_path / "dl" / "release.download.json"
    with ComtradeServer() as server:
        server.queue(Answer(body=baci_zip.read_bytes(), content_type="application/zip"))
        download_archive(release_url(server), out, record_path, max_tries=1)
    write_baci_zip(out, rows=ROWS[:3])  # the file changed after the download
    prov = tmp_path / "dl" / "prov.json"
    with pytest.raises(ReeflowError, match="sha256 differs from the download record"):
        register_archive(out, prov, download_record=record_path)
    assert not prov.exists()


@pytest.mark.parametrize("send_length", [True, False])
def test_a_release_over_max_archive_gb_stops_the_download(baci_zip: Path, tmp_path: Path, send_length: bool) -> None:
    body = baci_zip.read_bytes()
    out = tmp_path / "dl" / "release.zip"
    with ComtradeServer() as server:
        server.queue(*[Answer(body=body, send_length=send_length, content_type="application/zip")] * 2)
        with pytest.raises(ReeflowError, match=r"BACI release http://.*baci\.max_archive_gb"):
            download_archive(release_url(server), out, tmp_path / "dl" / "r.json", max_tries=2,
                             max_bytes=len(body) // 2, chunk_bytes=256)  # fmt: skip
    assert len(server.requests) == 1 and list(out.parent.iterdir()) == []  # not retried, nothing kept


def test_a_disk_too_full_for_the_release_is_refused_before_writing(
    baci_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from reeflow.acquire import resumable

    total = 100 << 30
    monkeypatch.setattr(resumable.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(total, total, 1000))
    out = tmp_path / "dl" / "release.zip"
    with ComtradeServer() as server:
        server.queue(Answer(body=baci_zip.read_bytes(), content_type="application/zip"))
        with pytest.raises(ReeflowError, match=r"needs 0\.00 GB .* only 0\.00 GB are free in .*dl; free some space"):
            download_archive(release_url(server), out, tmp_path / "dl" / "r.json", max_tries=3)
    assert len(server.requests) == 1 and list(out.parent.iterdir()) == []


def test_leftover_part_files_of_a_killed_download_are_removed(baci_zip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "dl"
    folder.mkdir()
    stale = folder / ".release.zip.k1lled00.part"  # atomic_path's name for a temporary release.zip
    stale.write_bytes(b"half a release")
    other = folder / ".other.zip.k1lled00.part"  # another file's: left alone
    other.write_bytes(b"x")
    with ComtradeServer() as server:
        server.queue(Answer(body=baci_zip.read_bytes(), content_type="application/zip"))
        download_archive(release_url(server), folder / "release.zip", folder / "release.download.json", max_tries=1)
    assert not stale.exists() and other.exists()
    assert sha256_file(folder / "release.zip") == sha256_file(baci_zip)


# ---------------------------------------------------------------- archive members and row bounds


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    archive = write_baci_zip(tmp_path / "dup.zip")
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(year_member(YEAR, VERSION), "t,i,j,k,v,q\n2021,156,842,284690,1.0,1.0\n")
    with pytest.raises(ReeflowError, match=rf"member name {year_member(YEAR, VERSION)} occurs twice"):
        register_archive(archive, tmp_path / "prov.json")
    nested = write_baci_zip(tmp_path / "nested.zip")
    with zipfile.ZipFile(nested, "a") as zf:
        zf.writestr("old/" + country_member(VERSION), COUNTRIES)
    with pytest.raises(ReeflowError, match="occurs twice"):
        detect_version(nested)


@pytest.mark.parametrize("name", ["../escape.csv", "/abs/escape.csv"])
def test_members_outside_the_archive_are_refused(tmp_path: Path, name: str) -> None:
    archive = write_baci_zip(tmp_path / "odd.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(zipfile.ZipInfo(name), "x")
    with pytest.raises(ReeflowError, match="unexpected member"):
        register_archive(archive, tmp_path / "prov.json")


def test_rows_read_and_kept_are_bounded(baci_zip: Path, tmp_path: Path) -> None:
    with pytest.raises(ReeflowError, match=r"more than 5 rows, the bound set by config baci\.max_member_rows"):
        extract(baci_zip, tmp_path / "a", max_member_rows=5, block_bytes=64)
    with pytest.raises(ReeflowError, match=r"more than 2 rows of the commodity table's codes.*baci\.max_kept_rows"):
        extract(baci_zip, tmp_path / "b", max_kept_rows=2)
    assert not (tmp_path / "a" / f"{YEAR}.parquet").exists() and not (tmp_path / "b" / f"{YEAR}.parquet").exists()
    _, frame = extract(baci_zip, tmp_path / "c", max_member_rows=len(ROWS), max_kept_rows=9)
    assert len(frame) == 9
