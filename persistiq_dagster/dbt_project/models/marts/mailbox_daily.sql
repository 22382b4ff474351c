-- One row per mailbox and day (in PERSISTIQ_TIMEZONE) with a send, a bounce or a reply. An
-- event or reply reaches a mailbox through the lead's membership of the campaign
-- (stg_persistiq__campaign_mailboxes); one whose lead is in no campaign reaches none.
with events as (
    select
        mailbox_id,
        {{ local_day('occurred_at') }} as day,
        {{ count_where("activity = 'sent'") }} as sends,
        {{ count_where("activity = 'bounced'") }} as bounces
    from {{ ref('stg_persistiq__events') }}
    where mailbox_id is not null and activity in ('sent', 'bounced')
    group by mailbox_id, {{ local_day('occurred_at') }}
),

replies as (
    select
        mailbox_id,
        {{ local_day('sent_at') }} as day,
        count(*) as replies
    from {{ ref('stg_persistiq__replies') }}
    where mailbox_id is not null
    group by mailbox_id, {{ local_day('sent_at') }}
),

days as (
    select mailbox_id, day from events
    union
    select mailbox_id, day from replies
)

select
    days.mailbox_id,
    days.day,
    mailboxes.mailbox_email,
    mailboxes.user_id,
    coalesce(events.sends, 0) as sends,
    coalesce(replies.replies, 0) as replies,
    coalesce(events.bounces, 0) as bounces
from days
left join events on days.mailbox_id = events.mailbox_id and days.day = events.day
left join replies on days.mailbox_id = replies.mailbox_id and days.day = replies.day
left join {{ ref('stg_persistiq__mailboxes') }} as mailboxes
    on days.mailbox_id = mailboxes.mailbox_id
