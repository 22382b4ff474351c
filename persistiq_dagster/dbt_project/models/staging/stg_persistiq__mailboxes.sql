-- One row per mailbox of a current user.
select
    mailboxes.id as mailbox_id,
    mailboxes.email as mailbox_email,
    users.id as user_id
from {{ source('persistiq', 'users__mailboxes') }} as mailboxes
inner join {{ source('persistiq', 'users') }} as users
    on mailboxes._dlt_parent_id = users._dlt_id
where users._dlt_valid_to is null
