-- One row per event, whichever published shape PersistIQ sent it in (the load fills
-- occurred_at, event_type, campaign_id, lead_id and user_id from either). activity comes from
-- the seed persistiq_event_types: null for a type it does not map, which the check
-- event_types_mapped reports; no event is dropped.
select
    events.id as event_id,
    events.occurred_at,
    event_types.activity,
    events.event_type,
    events.campaign_id,
    events.lead_id,
    events.user_id,
    mailboxes.mailbox_id
from {{ source('persistiq', 'events') }} as events
left join {{ ref('persistiq_event_types') }} as event_types
    on events.event_type = event_types.event_type
left join {{ ref('stg_persistiq__campaign_mailboxes') }} as mailboxes
    on events.campaign_id = mailboxes.campaign_id
    and events.lead_id = mailboxes.lead_id
