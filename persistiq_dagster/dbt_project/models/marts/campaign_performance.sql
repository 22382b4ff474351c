-- One row per current campaign: PersistIQ's lifetime stats and their rates, and the replies
-- this project has loaded.
with members as (
    select campaign_id, count(*) as leads
    from {{ ref('stg_persistiq__campaign_leads') }}
    group by campaign_id
),

replies as (
    select
        campaign_id,
        count(*) as replies,
        {{ count_where('is_positive') }} as positive_replies,
        count(distinct lead_id) as replied_leads,
        count(distinct case when is_positive then lead_id end) as positive_replied_leads,
        min(sent_at) as first_reply_at,
        max(sent_at) as last_reply_at
    from {{ ref('stg_persistiq__replies') }}
    group by campaign_id
)

select
    campaigns.campaign_id,
    campaigns.campaign_name,
    coalesce(members.leads, 0) as leads,
    campaigns.contacted,
    campaigns.reached,
    campaigns.opened,
    campaigns.replied,
    campaigns.bounced,
    campaigns.opted_out,
    {{ rate('campaigns.replied', 'campaigns.contacted') }} as reply_rate,
    {{ rate('campaigns.opened', 'campaigns.contacted') }} as open_rate,
    {{ rate('campaigns.bounced', 'campaigns.contacted') }} as bounce_rate,
    {{ rate('campaigns.opted_out', 'campaigns.contacted') }} as opt_out_rate,
    coalesce(replies.replies, 0) as replies,
    coalesce(replies.positive_replies, 0) as positive_replies,
    coalesce(replies.replied_leads, 0) as replied_leads,
    {{ rate('coalesce(replies.positive_replied_leads, 0)', 'campaigns.contacted') }}
        as positive_reply_rate,
    replies.first_reply_at,
    replies.last_reply_at
from {{ ref('stg_persistiq__campaigns') }} as campaigns
left join members on campaigns.campaign_id = members.campaign_id
left join replies on campaigns.campaign_id = replies.campaign_id
