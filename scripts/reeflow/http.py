"""HTTP GET with bounded retries and exponential back-off, for every download in the workflow.

Retries 429, 5xx and connection errors; honours ``Retry-After`` and Comtrade's "Try again in N
seconds" text; never lets a secret (a header value such as the Comtrade key) reach a message.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from reeflow.io import ReeflowError

log = logging.getLogger(__name__)
logging.getLogger("urllib3").setLevel(logging.WARNING)  # its DEBUG lines print full URLs

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


class HttpError(ReeflowError):
    """A request that failed for good; ``status`` is None when no answer came back."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def retry_delay(response: requests.Response | None, attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before the next try: the server's hint if it gave one, else 2^attempt x base."""
    if response is not None:
        hinted = _server_hint(response)
        if hinted is not None:
            return min(max(hinted, 0.0), cap)
    return min(base * (2**attempt), cap)


def _server_hint(response: requests.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header:
        try:
            return float(header)
        except ValueError:
            try:
                return max(parsedate_to_datetime(header).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError):
                pass
    match = _TRY_AGAIN.search(response.text[:2000] if response.text else "")
    return float(match.group(1)) if match else None


def scrub(text: str, secrets: list[str]) -> str:
    """Remove every secret from a message before it can be logged or raised."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def fetch(
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    max_tries: int = 5,
    backoff_seconds: float = 2.0,
    max_backoff_seconds: float = 120.0,
    session: requests.Session | None = None,
    secrets: list[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    describe: str | None = None,
) -> requests.Response:
    """GET ``url``; retry transient failures up to ``max_tries`` times, then raise HttpError.

    Non-retryable HTTP errors (4xx other than 429) raise at once with the status. The returned
    response has status 200; checking its content is the caller's job."""
    http = session or requests.Session()
    secrets = [s for s in (secrets or []) if s]
    what = describe or url
    last_problem = "no attempt made"
    last_status: int | None = None
    for attempt in range(max_tries):
        response: requests.Response | None = None
        try:
            response = http.get(url, params=params, headers=dict(headers or {}), timeout=timeout)
        except requests.RequestException as err:
            last_problem = scrub(f"{type(err).__name__}: {err}", secrets)
            last_status = None
        else:
            if response.status_code == 200:
                return response
            last_status = response.status_code
            last_problem = scrub(f"HTTP {response.status_code}: {response.text[:300]!r}", secrets)
            if response.status_code not in RETRY_STATUSES:
                raise HttpError(f"{what}: {last_problem}", status=response.status_code)
        if attempt + 1 < max_tries:
            delay = retry_delay(response, attempt, backoff_seconds, max_backoff_seconds)
            log.warning("%s: %s; try %d of %d again in %.1f s", what, last_problem, attempt + 2, max_tries, delay)
            sleep(delay)
    raise HttpError(f"{what}: gave up after {max_tries} tries; last: {last_problem}", status=last_status)
