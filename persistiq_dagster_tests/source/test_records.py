"""How records are shaped before dlt writes them: both event shapes, campaign leads, replies."""

from datetime import UTC, datetime

from persistiq_dagster.source.records import campaign_lead_row, event_row, reply_row

AT = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)


def test_an_openapi_event_gets_its_time_type_and_ids_from_created_at_and_data():
    event = event_row(
        {
            "id": "evt_1",
            "event_type": "email_opened",
            "created_at": "2024-01-15T09:30:00Z",
            "data": {"campaign_id": "c_1", "lead_id": "l_1", "user_id": "u_1"},
        }
    )
    assert (event["occurred_at"], event["event_type"]) == (AT, "email_opened")
    assert (event["campaign_id"], event["lead_id"], event["user_id"]) == ("c_1", "l_1", "u_1")


def test_a_docs_event_gets_them_from_event_at_kind_and_nested_objects():
    event = event_row(
        {
            "id": "evt_2",
            "kind": "email_sent",
            "event_at": "2024-01-15T09:30:00Z",
            "user_id": "u_2",
            "campaign": {"id": "c_2", "name": "Spring"},
            "lead": {"id": "l_2"},
        }
    )
    assert (event["occurred_at"], event["event_type"], event["kind"]) == (
        AT,
        "email_sent",
        "email_sent",
    )
    assert (event["campaign_id"], event["lead_id"], event["user_id"]) == ("c_2", "l_2", "u_2")


def test_an_event_without_a_time_has_none():
    assert event_row({"id": "evt_3", "event_type": "x"})["occurred_at"] is None


def test_a_campaign_lead_keeps_the_id_of_its_lead_and_its_campaign():
    row = campaign_lead_row(
        {
            "id": "cl_1",
            "mailbox_id": "mbox_1",
            "lead": {"id": "l_1", "data": {"email": "ada@example.com"}},
            "_campaigns_id": "c_9",
        }
    )
    assert row == {"id": "cl_1", "mailbox_id": "mbox_1", "lead_id": "l_1", "campaign_id": "c_9"}


def test_the_campaign_id_persistiq_sends_wins_over_the_parent():
    row = campaign_lead_row({"id": "cl_2", "campaign_id": "c_1", "_campaigns_id": "c_9"})
    assert row["campaign_id"] == "c_1" and "_campaigns_id" not in row


def test_a_reply_loses_the_fields_it_is_told_to_drop_and_nothing_else():
    reply = {
        "id": "r_1",
        "body": "Hi ✋",
        "preview": "Hi",
        "subject": None,
        "sent_at": "2024-01-15T09:30:00Z",
    }
    shaped = reply_row(("body", "preview"))(dict(reply, _campaigns_id="c_1"))
    assert shaped == {"id": "r_1", "subject": None, "sent_at": AT, "campaign_id": "c_1"}
    kept = reply_row(())(dict(reply))
    assert (kept["body"], kept["preview"]) == ("Hi ✋", "Hi")
