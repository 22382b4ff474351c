{#- numerator / denominator as a double, null when the denominator is 0 or null.
    dbt.type_float() is not used: it is a 4-byte FLOAT on DuckDB. -#}
{% macro rate(numerator, denominator) -%}
    cast({{ numerator }} as {{ persistiq_analytics.type_double() }})
        / nullif({{ denominator }}, 0)
{%- endmacro %}

{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'persistiq_analytics')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}
