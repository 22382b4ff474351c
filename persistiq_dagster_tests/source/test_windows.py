"""The window a partitioned table is read for: a second wider at the server, exact here."""

from datetime import UTC, datetime

import pytest

from persistiq_dagster.source.windows import in_window, parse_timestamps, window_params

START, END = "2024-01-15T00:00:00Z", "2024-01-16T00:00:00Z"


def test_the_server_is_asked_for_a_second_more_on_each_side():
    assert window_params(START, END) == {
        "start_at": "2024-01-14T23:59:59Z",
        "end_at": "2024-01-16T00:00:01Z",
    }


@pytest.mark.parametrize(
    ("sent_at", "kept"),
    [
        pytest.param("2024-01-14T23:59:59Z", False, id="a second before: the day before"),
        pytest.param("2024-01-15T00:00:00Z", True, id="midnight starts the day"),
        pytest.param("2024-01-15T23:59:59.999Z", True, id="the last instant of the day"),
        pytest.param("2024-01-16T00:00:00Z", False, id="next midnight: the next day"),
        pytest.param("2024-01-15T01:00:00+02:00", False, id="an offset: 23:00 UTC the day before"),
        pytest.param(None, True, id="no time: kept, cannot be placed"),
        pytest.param("soon", True, id="not ISO 8601: kept for dlt"),
    ],
)
def test_each_record_lands_in_the_day_its_time_falls_in(sent_at, kept):
    (record,) = parse_timestamps([{"id": "r_1", "sent_at": sent_at}], ["sent_at"])
    untimed = []
    assert in_window("sent_at", START, END, lambda: untimed.append(1))(record) is kept
    # A record that cannot be placed is kept and counted, so the run can say so.
    assert len(untimed) == (sent_at in (None, "soon"))


def test_naive_datetimes_are_utc():
    keep = in_window("at", START, END)
    assert keep({"at": datetime(2024, 1, 15, 12)}) is True
    assert keep({"at": datetime(2024, 1, 16, 0, tzinfo=UTC)}) is False
