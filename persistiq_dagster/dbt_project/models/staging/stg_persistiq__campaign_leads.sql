-- One row per lead currently in a campaign.
select
    id as campaign_lead_id,
    campaign_id,
    lead_id,
    mailbox_id
from {{ source('persistiq', 'campaign_leads') }}
where _dlt_valid_to is null
