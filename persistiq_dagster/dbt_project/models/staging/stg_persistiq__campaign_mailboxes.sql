-- One row per lead and campaign it is or was in: the mailbox of its latest membership, which
-- is how the lead's events and replies reach a mailbox (events of a lead since taken out of
-- the campaign keep their mailbox).
with memberships as (
    select
        campaign_id,
        lead_id,
        mailbox_id,
        row_number() over (
            partition by campaign_id, lead_id
            order by _dlt_valid_from desc, id desc
        ) as recency
    from {{ source('persistiq', 'campaign_leads') }}
)

select campaign_id, lead_id, mailbox_id
from memberships
where recency = 1
