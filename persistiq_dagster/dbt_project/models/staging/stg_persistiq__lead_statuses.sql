-- One row per current lead status. status is the name as leads carry it: lower case, words
-- joined by "_" ("Opted out" is opted_out).
select
    id as lead_status_id,
    name as status_name,
    lower(replace(trim(name), ' ', '_')) as status
from {{ source('persistiq', 'lead_statuses') }}
where _dlt_valid_to is null
