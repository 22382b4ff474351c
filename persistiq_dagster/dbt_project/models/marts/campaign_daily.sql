-- One row per campaign and day (in PERSISTIQ_TIMEZONE) with at least one event or reply.
with events as (
    select
        campaign_id,
        {{ local_day('occurred_at') }} as day,
        count(*) as events,
        {{ count_where("activity = 'sent'") }} as sent,
        {{ count_where("activity = 'opened'") }} as opened,
        {{ count_where("activity = 'clicked'") }} as clicked,
        {{ count_where("activity = 'replied'") }} as replied,
        {{ count_where("activity = 'bounced'") }} as bounced,
        {{ count_where("activity = 'opted_out'") }} as opted_out
    from {{ ref('stg_persistiq__events') }}
    where campaign_id is not null
    group by campaign_id, {{ local_day('occurred_at') }}
),

replies as (
    select
        campaign_id,
        {{ local_day('sent_at') }} as day,
        count(*) as replies,
        {{ count_where('is_positive') }} as positive_replies
    from {{ ref('stg_persistiq__replies') }}
    where campaign_id is not null
    group by campaign_id, {{ local_day('sent_at') }}
),

days as (
    select campaign_id, day from events
    union
    select campaign_id, day from replies
)

select
    days.campaign_id,
    days.day,
    campaigns.campaign_name,
    coalesce(events.events, 0) as events,
    coalesce(events.sent, 0) as sent,
    coalesce(events.opened, 0) as opened,
    coalesce(events.clicked, 0) as clicked,
    coalesce(events.replied, 0) as replied,
    coalesce(events.bounced, 0) as bounced,
    coalesce(events.opted_out, 0) as opted_out,
    coalesce(replies.replies, 0) as replies,
    coalesce(replies.positive_replies, 0) as positive_replies
from days
left join events on days.campaign_id = events.campaign_id and days.day = events.day
left join replies on days.campaign_id = replies.campaign_id and days.day = replies.day
left join {{ ref('stg_persistiq__campaigns') }} as campaigns
    on days.campaign_id = campaigns.campaign_id
