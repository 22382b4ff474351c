"""The run's HTTP session: an unreachable host fails at once, a blip after an answer is retried."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from requests.adapters import HTTPAdapter

from persistiq_dagster import config
from persistiq_dagster.source.http.errors import explain_failure
from persistiq_dagster.source.http.session import CONNECT_TIMEOUT_SECONDS, build_session
from persistiq_emulator import PersistIQEmulator

# The defaults: 7 retries waiting 1, 2, 4, ... 60 s, two minutes in all (a retry comes 1 s in).
PATIENT = {
    "max_retries": config.DEFAULT_MAX_RETRIES,
    "backoff_factor": config.DEFAULT_BACKOFF_FACTOR,
    "max_retry_delay": config.DEFAULT_MAX_RETRY_DELAY,
}
QUICK = {"max_retries": 2, "backoff_factor": 0.01, "max_retry_delay": 0.05}


def record_attempts(monkeypatch, base_url: str, allow: int) -> list[str]:
    """The URL of every attempt sent to ``base_url``, retries included; an attempt beyond
    ``allow`` raises instead of connecting, so a retrying session fails fast, not in minutes."""
    attempts: list[str] = []
    send = HTTPAdapter.send

    def counting_send(self, request, *args, **kwargs):
        if request.url.startswith(base_url):
            attempts.append(request.url)
            if len(attempts) > allow:
                raise RuntimeError(f"attempt {len(attempts)} at {request.url}: a retry")
        return send(self, request, *args, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", counting_send)
    return attempts


@contextmanager
def never_accepting_host() -> Iterator[str]:
    """A base URL whose listener never accepts: its one-slot backlog is full, so the kernel
    drops further connection attempts and the client's connect times out (a black hole)."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1/"


def session_with(request_timeout: float = 60.0, **retries) -> requests.Session:
    return build_session(
        requests_per_minute=1000,
        rate_limit_window=60.0,
        request_timeout=request_timeout,
        **retries,
    )


def test_connecting_gets_a_shorter_timeout_than_reading_an_answer():
    assert CONNECT_TIMEOUT_SECONDS < 15
    assert session_with(60.0, **PATIENT).timeout == (CONNECT_TIMEOUT_SECONDS, 60.0)
    assert session_with(0.5, **PATIENT).timeout == (0.5, 0.5)


def test_a_host_name_that_does_not_resolve_is_not_retried(monkeypatch):
    base_url = "http://persistiq.invalid/v1/"
    resolve = socket.getaddrinfo

    def no_such_host(host, *args, **kwargs):
        if host == "persistiq.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    attempts = record_attempts(monkeypatch, base_url, allow=1)

    with pytest.raises(requests.ConnectionError) as failed:
        session_with(**PATIENT).get(f"{base_url}users")

    assert attempts == [f"{base_url}users"]
    assert explain_failure(failed.value, base_url, retries=7) == (
        "Could not connect to PersistIQ at http://persistiq.invalid/v1/ "
        "(host name not resolved); check PERSISTIQ_BASE_URL and the network."
    )


def test_a_host_that_never_accepts_is_not_retried(monkeypatch):
    with never_accepting_host() as base_url:
        attempts = record_attempts(monkeypatch, base_url, allow=1)

        with pytest.raises(requests.ConnectTimeout) as failed:
            session_with(0.5, **PATIENT).get(f"{base_url}users")

    assert attempts == [f"{base_url}users"]
    assert "(connection timed out)" in explain_failure(failed.value, base_url, retries=7)


def test_a_refused_connection_after_persistiq_has_answered_is_retried(monkeypatch):
    session = session_with(**QUICK)
    with PersistIQEmulator() as emulator:
        headers = {"x-api-key": emulator.api_key}
        assert session.get(f"{emulator.base_url}users", headers=headers).status_code == 200
    # The emulator has stopped: the host that answered now refuses connections.
    attempts = record_attempts(monkeypatch, emulator.base_url, allow=QUICK["max_retries"] + 1)

    with pytest.raises(requests.ConnectionError) as failed:
        session.get(f"{emulator.base_url}campaigns", headers=headers)

    assert len(attempts) == QUICK["max_retries"] + 1
    assert "(connection refused)" in explain_failure(failed.value, emulator.base_url, retries=2)
