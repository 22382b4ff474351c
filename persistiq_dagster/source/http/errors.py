"""Errors a user sees when PersistIQ answers something we cannot load, with the key redacted."""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests import Response
from urllib3.exceptions import NameResolutionError, NewConnectionError

from persistiq_dagster.config import API_KEY_ENV, BASE_URL_ENV, MAX_RETRIES_ENV

REDACTED = "<redacted>"
BODY_PREVIEW_BYTES = 200
ERRORS_PREVIEW_CHARS = 300

HINTS = {
    400: "PersistIQ rejected the request parameters; check PERSISTIQ_START_DATE.",
    401: f"PersistIQ did not accept the API key; set {API_KEY_ENV} to a valid key.",
    403: f"The key in {API_KEY_ENV} is not allowed to read this endpoint.",
    404: f"The endpoint does not exist; check {BASE_URL_ENV} (it should end in /v1).",
}


class PersistIQError(Exception):
    """Base class of every error this project raises about the PersistIQ API."""


class PersistIQAPIError(PersistIQError):
    """PersistIQ answered with an error status that retrying cannot fix."""

    def __init__(self, status: int, path: str, reason: str, message: str, hint: str) -> None:
        self.status, self.path, self.reason = status, path, reason
        super().__init__(f"PersistIQ {status} {reason} on {path}: {message}. {hint}".strip())


class PersistIQResponseError(PersistIQError):
    """PersistIQ answered 2xx with a body that is not the expected envelope."""


class PersistIQPaginationError(PersistIQError):
    """The pagination fields would make us read a page twice or never stop."""


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, REDACTED) if secret else text


def body_preview(response: Response, secret: str | None) -> str:
    preview = response.content[:BODY_PREVIEW_BYTES].decode("utf-8", errors="replace")
    return repr(redact(preview, secret))


def error_fields(response: Response) -> tuple[str, str]:
    """PersistIQ's ``{"error": {"reason", "message"}}``, or the HTTP reason and body preview."""
    try:
        error = response.json().get("error") or {}
        return str(error.get("reason") or response.reason), str(error.get("message") or "")
    except (ValueError, AttributeError):
        return str(response.reason), ""


def errors_preview(errors: Any, secret: str | None) -> str:
    """The envelope's ``errors`` as JSON, redacted and cut to ERRORS_PREVIEW_CHARS."""
    if not errors:
        return "none listed"
    text = redact(json.dumps(errors, ensure_ascii=False, default=str), secret)
    if len(text) <= ERRORS_PREVIEW_CHARS:
        return text
    count = f" ({len(errors)} errors)" if isinstance(errors, list) else ""
    return f"{text[:ERRORS_PREVIEW_CHARS]}…{count}"


def raise_for_persistiq_error(response: Response, secret: str | None) -> None:
    """Fail at once, clearly, on a 4xx that a retry cannot fix (429 is left to the retries)."""
    status = response.status_code
    if status < 400 or status >= 500 or status == 429:
        return
    reason, message = error_fields(response)
    if not message:
        message = f"body {body_preview(response, secret)}"
    hint = HINTS.get(status, "")
    path = urlsplit(response.url).path
    raise PersistIQAPIError(status, path, redact(reason, secret), redact(message, secret), hint)


def check_envelope(response: Response, records_key: str, secret: str | None) -> None:
    """A 2xx body must be a JSON object holding a list under ``records_key``, and its
    envelope must not say it failed (a ``status`` other than success, or ``errors``)."""
    if not response.ok:
        return
    path = urlsplit(response.url).path
    try:
        payload = response.json()
    except ValueError:
        raise PersistIQResponseError(
            f"PersistIQ {response.status_code} on {path} is not JSON: "
            f"{body_preview(response, secret)}"
        ) from None
    if isinstance(payload, dict):
        status, errors = payload.get("status"), payload.get("errors")
        if status not in (None, "success") or errors:
            shown = errors_preview(errors or payload.get("error"), secret)
            raise PersistIQResponseError(
                f"PersistIQ {response.status_code} on {path} says the request failed: status "
                f"{redact(repr(status), secret)}, errors: {shown}. No page was loaded."
            )
    if not isinstance(payload, dict) or not isinstance(payload.get(records_key), list):
        raise PersistIQResponseError(
            f"PersistIQ {response.status_code} on {path} has no list under {records_key!r}: "
            f"{body_preview(response, secret)}"
        )
    # dlt's extractor and the paginator each call response.json(): parse the page once.
    response.json = lambda **_: payload  # type: ignore[method-assign]


def connect_failure(error: BaseException) -> str | None:
    """Why no connection could be opened ("connection refused", "host name not resolved",
    "connection timed out"); None when the error is not a failure to connect."""
    if isinstance(error, requests.ConnectTimeout):
        return "connection timed out"
    if not isinstance(error, requests.ConnectionError) or not error.args:
        return None
    reason = getattr(error.args[0], "reason", None)  # urllib3's MaxRetryError.reason
    if isinstance(reason, NameResolutionError):
        return "host name not resolved"
    if isinstance(reason, NewConnectionError):
        strerror = getattr(reason.__cause__, "strerror", None)  # the socket's OSError
        return strerror.lower() if strerror else "no connection"
    return None


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what caused it, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain_failure(error: BaseException, base_url: str, retries: int) -> str | None:
    """One line for the on-call engineer: what PersistIQ did and which setting to look at.

    None when the error did not come from talking to PersistIQ (a warehouse error, say).
    """
    for cause in causes(error):
        if isinstance(cause, PersistIQError):
            return str(cause)
        failure = connect_failure(cause)
        if failure:
            return (
                f"Could not connect to PersistIQ at {base_url} ({failure}); "
                f"check {BASE_URL_ENV} and the network."
            )
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            status, path = cause.response.status_code, urlsplit(cause.response.url).path
            return (
                f"PersistIQ answered {status} on {path} again after {retries} retries. "
                f"Try later, or allow more retries with {MAX_RETRIES_ENV}."
            )
        if isinstance(cause, requests.Timeout):
            return f"PersistIQ at {base_url} did not answer in time after {retries} retries."
        if isinstance(cause, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            return (
                f"The connection to PersistIQ at {base_url} failed again after {retries} "
                f"retries; check {BASE_URL_ENV} and the network."
            )
    return None
