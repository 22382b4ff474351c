-- One row per campaign and day (in PERSISTIQ_TIMEZONE) on which this project recorded a new
-- version of the campaign: PersistIQ's lifetime stats as they stood at the end of that day, and
-- their change since the previous such day. PersistIQ keeps only the latest stats; this history
-- exists because every snapshot load keeps the earlier versions (scd2). A day on which nothing
-- changed has no row: its stats are those of the row before.
with versions as (
    select
        *,
        {{ local_day('valid_from') }} as day,
        row_number() over (
            partition by campaign_id, {{ local_day('valid_from') }}
            order by valid_from desc
        ) as latest_of_day
    from {{ ref('stg_persistiq__campaign_versions') }}
),

days as (
    select * from versions where latest_of_day = 1
)

select
    campaign_id,
    day,
    campaign_name,
    contacted,
    reached,
    opened,
    replied,
    bounced,
    opted_out,
    {%- for stat in ['contacted', 'reached', 'opened', 'replied', 'bounced', 'opted_out'] %}
    {{ stat }} - lag({{ stat }}) over (partition by campaign_id order by day) as {{ stat }}_change,
    {%- endfor %}
    valid_from as recorded_at
from days
