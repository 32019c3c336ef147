"""reeflow.http.fetch against a local server: retries, back-off hints, give-up and secret scrubbing."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from comtrade_server import Answer, free_port
from comtrade_server import comtrade_server as comtrade_server  # noqa: F401 (fixture)
from reeflow.http import HttpError, fetch, retry_delay, scrub

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
