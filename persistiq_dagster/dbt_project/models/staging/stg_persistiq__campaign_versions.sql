-- One row per version of a campaign this project has recorded (scd2 history): the campaign and
-- its stats as they stood from valid_from until valid_to (null: still current).
select
    id as campaign_id,
    name as campaign_name,
    creator__id as creator_user_id,
    stats__prospects_contacted as contacted,
    stats__prospects_reached as reached,
    stats__prospects_opened as opened,
    stats__prospects_replied as replied,
    stats__prospects_bounced as bounced,
    stats__prospects_optedout as opted_out,
    coalesce(stats__total_contacted, stats__total_prospects) as total_prospects,
    _dlt_valid_from as valid_from,
    _dlt_valid_to as valid_to
from {{ source('persistiq', 'campaigns') }}
