"""HTTP GET with bounded retries and exponential back-off, for every download in the workflow.

Retries 429, 5xx, connection errors and timeouts; honours ``Retry-After`` and Comtrade's "Try
again in N seconds" text; never lets a secret (a header value such as the Comtrade key) reach a
message. Bodies are read as a stream and stop at ``max_bytes`` (a per-source config setting), so an
answer never fills memory. A request carrying a secret never follows a redirect: the secret travels
in a custom header, which ``requests`` would resend to whatever host the redirect names.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from reeflow.io import ReeflowError

log = logging.getLogger(__name__)
logging.getLogger("urllib3").setLevel(logging.WARNING)  # its DEBUG lines print full URLs

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ERROR_TEXT_BYTES = 64 << 10  # of a non-200 answer, only this much is read (for the message and hints)
_CHUNK_BYTES = 1 << 16


class HttpError(ReeflowError):
    """A request that failed for good; ``status`` is None when no answer came back."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AnswerTooLarge(HttpError):
    """An answer larger than its configured bound; not retried (the next try would be as large)."""


def check_base_url(url: str, setting: str) -> None:
    """Refuse a base URL that would carry a secret in clear text or to an unexpected place.

    https only; http only for a local test server (127.0.0.1, localhost, ::1)."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
    except ValueError as err:
        raise ReeflowError(f"config {setting}: not a valid URL ({err})") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in LOCAL_HOSTS:
        return
    raise ReeflowError(
        f"config {setting}: {url!r} must be an https:// URL (http:// is accepted only for a local test "
        "server on 127.0.0.1, localhost or ::1): the subscription key would travel in clear text"
    )


def _host_of(location: str | None) -> str:
    try:
        return urlsplit(location or "").hostname or "(no host: a relative redirect)"
    except ValueError:
        return "(an unparsable Location)"


def _read_capped(response: requests.Response, cap: int) -> tuple[bytes, bool]:
    """Up to ``cap`` bytes of a streamed body, and whether there was more (reading stops there)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], True
    return b"".join(chunks), False


def _settle(response: requests.Response, content: bytes) -> None:
    """Make ``content`` the response's body (so .content and .text work) and free the connection."""
    response._content = content  # noqa: SLF001 (requests' documented-by-use body slot)
    response._content_consumed = True  # noqa: SLF001
    response.close()


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
            # also the forms an exception may show it in: repr (escaped control characters) and bytes
            for form in (secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "replace"))[2:-1]):
                if form:
                    text = text.replace(form, "***")
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
    max_bytes: int | None = None,
    limit_setting: str = "",
    stream: bool = False,
) -> requests.Response:
    """GET ``url``; retry transient failures up to ``max_tries`` times, then raise HttpError.

    Non-retryable HTTP errors (4xx other than 429) raise at once with the status. The returned
    response has status 200; checking its content is the caller's job. The body is read here,
    at most ``max_bytes`` of it (AnswerTooLarge names the URL and ``limit_setting``, the config
    key of the bound), unless ``stream``: then the caller reads it (and bounds it) itself.

    With ``secrets`` (values of ``headers`` such as an API key) no redirect is followed: a 3xx
    raises HttpError naming the host it pointed to, so the secret never leaves for another host."""
    http = session or requests.Session()
    secrets = [s for s in (secrets or []) if s]
    what = describe or url
    last_problem = "no attempt made"
    last_status: int | None = None
    for attempt in range(max_tries):
        response: requests.Response | None = None
        try:
            response = http.get(
                url, params=params, headers=dict(headers or {}), timeout=timeout, stream=True,
                allow_redirects=not secrets,
            )  # fmt: skip
            if response.status_code == 200:
                if not stream:
                    _read_bounded(response, max_bytes, what, url, limit_setting, secrets)
                return response
            content, _ = _read_capped(response, ERROR_TEXT_BYTES)
            _settle(response, content)
        except requests.RequestException as err:
            if response is not None:
                response.close()
            last_problem = scrub(f"{type(err).__name__}: {err}", secrets)
            last_status = None
            response = None
        else:
            last_status = response.status_code
            if secrets and response.is_redirect:
                target = scrub(_host_of(response.headers.get("Location")), secrets)
                raise HttpError(
                    f"{what}: HTTP {response.status_code} redirect to host {target}; not followed, because the "
                    "request carries the subscription key (it goes only to the configured host): check the "
                    "configured base URL",
                    status=response.status_code,
                )
            last_problem = scrub(f"HTTP {response.status_code}: {response.text[:300]!r}", secrets)
            if response.status_code not in RETRY_STATUSES:
                raise HttpError(f"{what}: {last_problem}", status=response.status_code)
        if attempt + 1 < max_tries:
            delay = retry_delay(response, attempt, backoff_seconds, max_backoff_seconds)
            log.warning("%s: %s; try %d of %d again in %.1f s", what, last_problem, attempt + 2, max_tries, delay)
            sleep(delay)
    raise HttpError(f"{what}: gave up after {max_tries} tries; last: {last_problem}", status=last_status)


def _read_bounded(
    response: requests.Response, max_bytes: int | None, what: str, url: str, setting: str, secrets: list[str]
) -> None:
    """Read the body into the response, stopping (AnswerTooLarge) once it passes ``max_bytes``."""
    if max_bytes is None:
        _settle(response, response.content)
        return
    declared = response.headers.get("Content-Length", "")
    too_large = declared.isdigit() and int(declared) > max_bytes
    if not too_large:
        content, too_large = _read_capped(response, max_bytes)
    if too_large:
        response.close()
        where = what if url in what else f"{what} ({url})"
        raise AnswerTooLarge(
            scrub(
                f"{where}: the answer is larger than {max_bytes} bytes, the bound set by config "
                f"{setting or 'of its source'}; stopped reading it. Raise that setting if an answer this large "
                "is expected",
                secrets,
            ),
            status=response.status_code,
        )
    _settle(response, content)
