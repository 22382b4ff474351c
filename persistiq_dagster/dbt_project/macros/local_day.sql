{#- The calendar day of a UTC instant in PERSISTIQ_TIMEZONE (the var timezone): the day a
    daily partition, and a row of the daily models, stands for. DuckDB (with ICU) and
    PostgreSQL both read "timestamptz at time zone" as the local wall-clock time. -#}
{% macro local_day(instant) -%}
    {{ return(adapter.dispatch('local_day', 'persistiq_analytics')(instant)) }}
{%- endmacro %}

{% macro default__local_day(instant) -%}
    cast(({{ instant }} at time zone '{{ var("timezone") }}') as date)
{%- endmacro %}
