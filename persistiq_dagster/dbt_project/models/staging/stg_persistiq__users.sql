-- One row per current user.
select
    id as user_id,
    name as user_name,
    email as user_email,
    activated as is_activated,
    default_mailbox_id
from {{ source('persistiq', 'users') }}
where _dlt_valid_to is null
