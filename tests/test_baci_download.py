"""Several-GB downloads done right, against a local stand-in for CEPII's site (SYNTHETIC releases):
a cut download resumes with HTTP Range and gives the same bytes; a server ignoring Range restarts;
a checksum mismatch, an HTML page, a 404 and a truncated archive fail clearly and leave nothing."""

from __future__ import annotations

import errno
import hashlib
import zipfile
from pathlib import Path

import pytest

from baci_server import BaciServer, BaciSite, Fault, write_release
from reeflow.acquire import resumable
from reeflow.acquire.baci import download_archive, download_url
from reeflow.io import ReeflowError

VERSION = "202601"
TEMPLATE = "/BACI_{hs}_V{version}.zip"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A SYNTHETIC HS17 release of two years (some 75 kB compressed): enough 4 kB chunks to cut."""
    rows = [f"2021,156,842,{284690 + (n % 7)},{n}.5,{n % 97}.0" for n in range(8000)]
    path = write_release(tmp_path_factory.mktemp("rel") / "r.zip", "HS17", VERSION, {2021: rows, 2022: rows})
    return path.read_bytes()


def serve(release: bytes, **site_kw: object) -> BaciSite:
    return BaciSite(files={f"/BACI_HS17_V{VERSION}.zip": release}, **site_kw)  # type: ignore[arg-type]


def fetch(server: BaciServer, out_dir: Path, **kw: object) -> dict:
    url = download_url(server.base_url + TEMPLATE, VERSION, "HS17")
    kw.setdefault("backoff_seconds", 0.01)
    kw.setdefault("chunk_bytes", 4096)
    return download_archive(url, out_dir / "BACI_HS17_V202601.zip", out_dir / "BACI_HS17_V202601.download.json",
                            **kw)  # type: ignore[arg-type]  # fmt: skip


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_cut_download_resumes_with_range_and_gives_the_same_bytes(release: bytes, tmp_path: Path) -> None:
    site = serve(release)
    cut = len(release) // 2
    site.faults.append(Fault(cut_at=cut))
    with BaciServer(site) as server:
        record = fetch(server, tmp_path, max_tries=3)
    out = tmp_path / "BACI_HS17_V202601.zip"
    assert out.read_bytes() == release
    assert record["sha256"] == hashlib.sha256(release).hexdigest() and record["bytes"] == len(release)
    assert len(site.requests) == 2
    resumed_at = record["resumed_from"][0]
    assert 0 < resumed_at <= cut  # what arrived before the cut was kept, not fetched again
    assert site.requests[1].headers["Range"] == f"bytes={resumed_at}-"
    assert site.requests[1].headers["If-Range"] == '"synthetic-1"'
    assert names(tmp_path) == ["BACI_HS17_V202601.download.json", "BACI_HS17_V202601.zip"]


def test_an_interrupted_run_leaves_a_part_file_that_the_next_run_resumes(release: bytes, tmp_path: Path) -> None:
    site = serve(release)
    site.faults.append(Fault(cut_at=len(release) // 3))
    with BaciServer(site) as server:
        with pytest.raises(ReeflowError, match=r"http://127\.0\.0\.1:\d+/BACI_HS17_V202601\.zip.*rerun to resume"):
            fetch(server, tmp_path, max_tries=1)
        assert names(tmp_path) == ["BACI_HS17_V202601.zip.part", "BACI_HS17_V202601.zip.part.json"]
        kept = (tmp_path / "BACI_HS17_V202601.zip.part").stat().st_size
        assert 0 < kept < len(release)
        record = fetch(server, tmp_path, max_tries=1)  # the next run
    assert (tmp_path / "BACI_HS17_V202601.zip").read_bytes() == release
    assert record["resumed_from"] == [kept] and site.requests[-1].headers["Range"] == f"bytes={kept}-"
    assert names(tmp_path) == ["BACI_HS17_V202601.download.json", "BACI_HS17_V202601.zip"]


def test_a_server_that_ignores_range_restarts_from_zero(release: bytes, tmp_path: Path) -> None:
    site = serve(release, honour_range=False)
    site.faults.append(Fault(cut_at=len(release) // 2))
    with BaciServer(site) as server:
        record = fetch(server, tmp_path, max_tries=2)
    assert (tmp_path / "BACI_HS17_V202601.zip").read_bytes() == release
    assert site.requests[1].headers.get("Range")  # asked for the rest, got the whole file (200)
    assert record["sha256"] == hashlib.sha256(release).hexdigest()


def test_a_checksum_mismatch_fails_clearly_and_leaves_nothing(release: bytes, tmp_path: Path) -> None:
    site = serve(release)
    wrong = "0" * 64
    with BaciServer(site) as server:
        with pytest.raises(ReeflowError, match=rf"sha256 {hashlib.sha256(release).hexdigest()} differs from {wrong} "
                                               r"\(baci\.releases\[\]\.sha256\).*nothing was kept"):  # fmt: skip
            fetch(server, tmp_path, expected_sha256=wrong)
    assert names(tmp_path) == []
    with BaciServer(site) as server:  # the right checksum passes
        fetch(server, tmp_path, expected_sha256=hashlib.sha256(release).hexdigest())
    assert (tmp_path / "BACI_HS17_V202601.zip").read_bytes() == release


def test_an_html_page_instead_of_the_zip_fails_clearly_and_leaves_nothing(release: bytes, tmp_path: Path) -> None:
    site = serve(release)
    site.faults.append(Fault(html=True))
    with BaciServer(site) as server:
        with pytest.raises(ReeflowError, match=r"BACI release http://127.*web page.*text/html.*baci\.url"):
            fetch(server, tmp_path, max_tries=3)
    assert len(site.requests) == 1  # not retried: the next answer would be the same page
    assert names(tmp_path) == []


def test_a_404_names_the_url_and_the_fix(release: bytes, tmp_path: Path) -> None:
    site = serve(release)
    with BaciServer(site) as server:
        url = download_url(server.base_url + TEMPLATE, "199901", "HS17")
        with pytest.raises(ReeflowError, match=r"BACI_HS17_V199901\.zip: HTTP 404.*baci\.version.*cepii\.fr"):
            download_archive(url, tmp_path / "x.zip", tmp_path / "x.json", max_tries=3)
    assert len(site.requests) == 1 and names(tmp_path) == []


def test_a_truncated_archive_without_a_length_is_refused(tmp_path: Path) -> None:
    """A server that sends no Content-Length cannot tell a cut: the zip check does."""
    good = write_release(tmp_path / "src" / "r.zip", "HS17", VERSION, {2021: ["2021,156,842,284690,1.0,1.0"]})
    data = good.read_bytes()[:-30]  # the end of the central directory is missing
    with pytest.raises(ReeflowError, match=r"not a readable zip.*truncated"):
        resumable._check_complete(_write(tmp_path / "dl" / "r.zip.part", data), len(data), None, "BACI release u",
                                  resumable.DownloadOptions())  # fmt: skip
    assert zipfile.is_zipfile(good)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_full_disk_keeps_the_partial_file_and_says_how_to_resume(
    release: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = serve(release)
    written = {"n": 0}

    class FullDisk:
        """An open() whose file fails with ENOSPC after some bytes, like a disk filling up."""

        def __init__(self, path: Path, mode: str) -> None:
            self.handle = open(path, mode)  # noqa: SIM115

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def seek(self, n: int) -> None:
            self.handle.seek(n)

        def truncate(self) -> None:
            self.handle.truncate()

        def write(self, chunk: bytes) -> None:
            if written["n"] > len(release) // 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            written["n"] += len(chunk)
            self.handle.write(chunk)

    monkeypatch.setattr(resumable, "open", FullDisk, raising=False)
    with BaciServer(site) as server:
        with pytest.raises(ReeflowError, match=r"disk is full.*partial file .*\.part is kept: free some space"):
            fetch(server, tmp_path, max_tries=3)
        assert len(site.requests) == 1  # not retried while the disk is full
        assert names(tmp_path) == ["BACI_HS17_V202601.zip.part", "BACI_HS17_V202601.zip.part.json"]
        monkeypatch.undo()  # space was freed
        record = fetch(server, tmp_path)
    assert (tmp_path / "BACI_HS17_V202601.zip").read_bytes() == release and record["resumed_from"]


def test_a_part_file_the_server_cannot_continue_is_started_again(release: bytes, tmp_path: Path) -> None:
    """A whole file left as .part (killed before the rename): the range is refused (416), restart."""
    site = serve(release)
    with BaciServer(site) as server:
        url = download_url(server.base_url + TEMPLATE, VERSION, "HS17")
        part, sidecar = resumable.part_paths(tmp_path / "BACI_HS17_V202601.zip")
        part.write_bytes(release + b"junk")
        sidecar.write_text(f'{{"url": "{url}"}}')
        record = fetch(server, tmp_path, max_tries=2)
    assert [r.headers.get("Range") for r in site.requests] == [f"bytes={len(release) + 4}-", None]
    assert (tmp_path / "BACI_HS17_V202601.zip").read_bytes() == release and record["bytes"] == len(release)
