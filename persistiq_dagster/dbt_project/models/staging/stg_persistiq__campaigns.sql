-- One row per current campaign, with PersistIQ's lifetime stats.
select
    campaign_id,
    campaign_name,
    creator_user_id,
    contacted,
    reached,
    opened,
    replied,
    bounced,
    opted_out,
    total_prospects
from {{ ref('stg_persistiq__campaign_versions') }}
where valid_to is null
