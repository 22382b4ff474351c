-- One row per lead PersistIQ still has (leads merge on id; a lead the weekly reconciliation
-- found deleted keeps its row with deleted_at set, and is left out here). Personal fields stay
-- in the loaded table.
select
    id as lead_id,
    status,
    owner_id as owner_user_id,
    creator_id as creator_user_id,
    coalesce(bounced, false) as is_bounced,
    coalesce(optedout, false) as is_opted_out,
    coalesce(sent_count, 0) as sent_count,
    coalesce(replied_count, 0) as replied_count,
    last_sent_at,
    created_at,
    updated_at,
    data__company_name as company_name,
    data__industry as industry,
    data__title as title
from {{ source('persistiq', 'leads') }}
where deleted_at is null
