-- One row per lead status and owner, over the current leads: how many there are and how far
-- they went. A status the account no longer lists has a null status_name.
select
    leads.status,
    statuses.status_name,
    leads.owner_user_id,
    owners.user_name as owner_name,
    count(*) as leads,
    {{ count_where('leads.sent_count > 0') }} as contacted,
    {{ count_where('leads.replied_count > 0') }} as replied,
    {{ count_where('leads.is_bounced') }} as bounced,
    {{ count_where('leads.is_opted_out') }} as opted_out
from {{ ref('stg_persistiq__leads') }} as leads
left join {{ ref('stg_persistiq__lead_statuses') }} as statuses
    on leads.status = statuses.status
left join {{ ref('stg_persistiq__users') }} as owners
    on leads.owner_user_id = owners.user_id
group by leads.status, statuses.status_name, leads.owner_user_id, owners.user_name
