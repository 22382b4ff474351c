-- One row per reply. No body or preview: answers need neither (they are loaded only with
-- PERSISTIQ_LOAD_REPLY_BODIES, and stay in the loaded table).
select
    replies.id as reply_id,
    replies.sent_at,
    replies.campaign_id,
    replies.lead_id,
    mailboxes.mailbox_id,
    replies.sentiment,
    coalesce(replies.sentiment = 'positive', false) as is_positive,
    replies.kind,
    replies.step_message_id
from {{ source('persistiq', 'replies') }} as replies
left join {{ ref('stg_persistiq__campaign_mailboxes') }} as mailboxes
    on replies.campaign_id = mailboxes.campaign_id
    and replies.lead_id = mailboxes.lead_id
