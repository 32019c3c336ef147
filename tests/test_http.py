"""reeflow.http.fetch against a local server: retries, back-off hints, give-up and secret scrubbing."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from comtrade_server import Answer, ComtradeServer, free_port
from comtrade_server import comtrade_server as comtrade_server  # noqa: F401 (fixture)
from reeflow.http import AnswerTooLarge, HttpError, check_base_url, fetch, retry_delay, scrub
from reeflow.io import ReeflowError

SECRET = "FAKE-SECRET-http-5d1e"


def answer_response(status: int, text: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    """A requests.Response built in memory, for the pure back-off function."""
    response = requests.Response()
    response.status_code = status
    response._content = text.encode()
    response.headers.update(headers or {})
    return response


def test_success_returns_at_once(comtrade_server) -> None:
    comtrade_server.queue(Answer(body="ok"))
    sleeps: list[float] = []
    response = fetch(comtrade_server.base_url + "/x", params={"a": "1"}, sleep=sleeps.append)
    assert response.text == "ok" and sleeps == []
    assert comtrade_server.requests[0].query == {"a": "1"}


def test_429_then_500_then_success_honours_hints(comtrade_server) -> None:
    comtrade_server.queue(
        Answer(status=429, headers={"Retry-After": "4"}),
        Answer(status=500, body="oops"),
        Answer(body="done"),
    )
    sleeps: list[float] = []
    response = fetch(comtrade_server.base_url, backoff_seconds=1.5, max_tries=3, sleep=sleeps.append)
    assert response.text == "done"
    assert sleeps == [4.0, 3.0]  # the hint, then 1.5 x 2^1


def test_non_retryable_status_raises_at_once_with_the_status(comtrade_server) -> None:
    comtrade_server.queue(Answer(status=404, body="no such endpoint"))
    with pytest.raises(HttpError, match="HTTP 404") as info:
        fetch(comtrade_server.base_url, max_tries=5, sleep=lambda s: None, describe="thing")
    assert info.value.status == 404 and str(info.value).startswith("thing:")
    assert len(comtrade_server.requests) == 1


def test_gives_up_after_max_tries_naming_the_last_problem(comtrade_server) -> None:
    comtrade_server.queue(*[Answer(status=502, body=f"bad gateway {SECRET}")] * 4)
    sleeps: list[float] = []
    with pytest.raises(HttpError, match=r"gave up after 4 tries; last: HTTP 502") as info:
        fetch(comtrade_server.base_url, max_tries=4, backoff_seconds=1, max_backoff_seconds=3,
              secrets=[SECRET], sleep=sleeps.append)  # fmt: skip
    assert sleeps == [1, 2, 3]  # exponential, capped
    assert SECRET not in str(info.value) and info.value.status == 502


def test_connection_refused_is_retried_then_reported_without_secrets() -> None:
    url = f"http://127.0.0.1:{free_port()}/data"
    sleeps: list[float] = []
    with pytest.raises(HttpError, match="gave up after 2 tries") as info:
        fetch(url, params={"token": SECRET}, max_tries=2, secrets=[SECRET], sleep=sleeps.append)
    assert info.value.status is None and len(sleeps) == 1
    assert SECRET not in str(info.value)


def test_dropped_connection_is_retried(comtrade_server) -> None:
    comtrade_server.queue(Answer(drop=True), Answer(body="second time lucky"))
    assert fetch(comtrade_server.base_url, sleep=lambda s: None).text == "second time lucky"
    assert len(comtrade_server.requests) == 2


def test_retry_delay_reads_retry_after_dates_and_comtrade_text() -> None:
    in_ten = answer_response(429, headers={"Retry-After": formatdate(time.time() + 10, usegmt=True)})
    assert 8.0 <= retry_delay(in_ten, 0, 1.0, 60.0) <= 10.0
    text = answer_response(429, "Rate limit is exceeded. Try again in 12 seconds.")
    assert retry_delay(text, 0, 1.0, 60.0) == 12.0
    assert retry_delay(text, 0, 1.0, 5.0) == 5.0  # capped
    assert retry_delay(answer_response(503), 3, 0.5, 60.0) == 4.0
    assert retry_delay(None, 10, 2.0, 30.0) == 30.0


@given(attempt=st.integers(0, 30), base=st.floats(0, 100), cap=st.floats(0, 1000))
def test_retry_delay_is_bounded(attempt: int, base: float, cap: float) -> None:
    delay = retry_delay(None, attempt, base, cap)
    assert 0.0 <= delay <= cap


@given(st.text(alphabet="XYZ :/?=&", max_size=20), st.text(alphabet="abcdef0123456789-", min_size=4))
def test_scrub_removes_every_occurrence(around: str, secret: str) -> None:
    text = f"{around}{secret}{around}key={secret}"
    cleaned = scrub(text, [secret])
    assert secret not in cleaned and cleaned.count("***") == 2
    assert scrub(text, []) == text and scrub(text, [""]) == text


# ------------------------------------------------------------------ timeouts, 504, redirects, size bounds


def test_a_timeout_is_retried_then_reported_clearly(comtrade_server) -> None:
    comtrade_server.queue(Answer(body="late", delay=1.0), Answer(body="late", delay=1.0))
    sleeps: list[float] = []
    started = time.monotonic()
    with pytest.raises(HttpError, match=r"slow thing: gave up after 2 tries; last: .*Timeout") as info:
        fetch(comtrade_server.base_url, timeout=0.2, max_tries=2, sleep=sleeps.append, describe="slow thing")
    assert info.value.status is None and len(sleeps) == 1
    assert len(comtrade_server.requests) == 2 and time.monotonic() - started < 5


def test_a_timeout_then_an_answer_in_time_succeeds(comtrade_server) -> None:
    comtrade_server.queue(Answer(body="late", delay=1.0), Answer(body="on time"))
    sleeps: list[float] = []
    assert fetch(comtrade_server.base_url, timeout=0.3, max_tries=3, sleep=sleeps.append).text == "on time"
    assert len(sleeps) == 1 and len(comtrade_server.requests) == 2


def test_a_504_is_retried(comtrade_server) -> None:
    comtrade_server.queue(Answer(status=504, body="gateway timeout"), Answer(body="done"))
    sleeps: list[float] = []
    assert fetch(comtrade_server.base_url, backoff_seconds=0.5, sleep=sleeps.append).text == "done"
    assert sleeps == [0.5] and len(comtrade_server.requests) == 2


def test_a_request_with_a_secret_follows_no_redirect(comtrade_server) -> None:
    """The key header would go along to whatever host the redirect names: it is not followed."""
    with ComtradeServer() as elsewhere:
        elsewhere.queue(Answer(body="collected"))
        target = elsewhere.base_url.replace("127.0.0.1", "localhost") + "/collect"
        comtrade_server.queue(Answer(status=302, headers={"Location": target}))
        with pytest.raises(HttpError, match=r"HTTP 302 redirect to host localhost; not followed") as info:
            fetch(comtrade_server.base_url, headers={"X-Key": SECRET}, secrets=[SECRET], sleep=lambda s: None)
        assert elsewhere.requests == [] and SECRET not in str(info.value)
        assert len(comtrade_server.requests) == 1 and info.value.status == 302  # not retried


def test_a_request_without_a_secret_follows_redirects(comtrade_server) -> None:
    with ComtradeServer() as elsewhere:
        elsewhere.queue(Answer(body="moved here"))
        comtrade_server.queue(Answer(status=302, headers={"Location": elsewhere.base_url + "/new"}))
        assert fetch(comtrade_server.base_url, sleep=lambda s: None).text == "moved here"
        assert [r.path for r in elsewhere.requests] == ["/new"]


@pytest.mark.parametrize("send_length", [True, False])
def test_an_answer_over_max_bytes_stops_reading_naming_the_url_and_the_setting(comtrade_server, send_length) -> None:
    comtrade_server.queue(Answer(body="x" * 5000, send_length=send_length))
    url = comtrade_server.base_url + "/big"
    with pytest.raises(AnswerTooLarge, match=r"/big.*larger than 1000 bytes.*config demo\.max_mb") as info:
        fetch(url, max_bytes=1000, limit_setting="demo.max_mb", sleep=lambda s: None, describe="demo")
    assert info.value.status == 200 and len(comtrade_server.requests) == 1  # not retried


def test_an_answer_within_max_bytes_is_read_whole(comtrade_server) -> None:
    comtrade_server.queue(Answer(body="y" * 1000, send_length=False))
    assert fetch(comtrade_server.base_url, max_bytes=1000, sleep=lambda s: None).content == b"y" * 1000


@pytest.mark.parametrize("secret", ["ab\r\ncd-9f", "tab\tkey", "nul\x00key", "ünï-kéy"])
def test_scrub_removes_the_forms_an_exception_shows_a_secret_in(secret: str) -> None:
    shown = f"Invalid header value {secret.encode()!r} or {secret!r} or {secret}"
    assert "***" in scrub(shown, [secret])
    cleaned = scrub(shown, [secret])
    assert secret not in cleaned and repr(secret)[1:-1] not in cleaned and repr(secret.encode())[2:-1] not in cleaned


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://comtradeapi.un.org", True), ("http://127.0.0.1:8080", True), ("http://localhost/x", True),
     ("http://[::1]:9", True), ("http://comtradeapi.un.org", False), ("http://127.0.0.1.example.org", False),
     ("ftp://example.org", False), ("https://", False), ("http://127.0.0.1:1@example.org", False)],
)  # fmt: skip
def test_base_urls_are_https_or_a_local_test_server(url: str, ok: bool) -> None:
    if ok:
        check_base_url(url, "comtrade.base_url")
    else:
        with pytest.raises(ReeflowError, match=r"config comtrade\.base_url: .* must be an https:// URL"):
            check_base_url(url, "comtrade.base_url")
