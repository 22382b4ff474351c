{#- Every model and seed in the target's schema (PERSISTIQ_ANALYTICS_SCHEMA), not dbt's
    default "<target schema>_<custom schema>". -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ target.schema }}
{%- endmacro %}
