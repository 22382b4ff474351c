"""How the dbt project appears in Dagster: each source is the load asset of its table
(``persistiq/<table>``; ``users__mailboxes`` is part of ``persistiq/users``), so one asset
graph runs from the API to the answers; models and the seed are ``persistiq_analytics/<name>``
in the group ``persistiq_analytics``, owned and tagged like the loads, kept fresh by
``automation``. dagster-dbt itself puts each model's column descriptions on its
asset page and makes its dbt tests asset checks."""

from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetCheckSpec, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from persistiq_dagster.defs.analytics.automation import after_loads, seed_condition, with_its_asset
from persistiq_dagster.defs.names import ANALYTICS_GROUP_NAME, asset_key, model_key

CHILD_TABLE_SEPARATOR = "__"  # dlt names a child table <parent>__<field>


def source_table(name: str) -> str:
    """The loaded table whose asset holds the dbt source ``name``."""
    return name.split(CHILD_TABLE_SEPARATOR, 1)[0]


class AnalyticsTranslator(DagsterDbtTranslator):
    def __init__(self, owners: Sequence[str], tags: Mapping[str, str]):
        # users and users__mailboxes are both persistiq/users; each model's page links to
        # its SQL file.
        super().__init__(
            DagsterDbtTranslatorSettings(
                enable_duplicate_source_asset_keys=True, enable_code_references=True
            )
        )
        self.owners = list(owners)
        self.tags = dict(tags)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=asset_key(source_table(props["name"])))
        return spec.replace_attributes(
            key=model_key(props["name"]),
            group_name=ANALYTICS_GROUP_NAME,
            owners=self.owners,
            automation_condition=(
                seed_condition() if props["resource_type"] == "seed" else after_loads()
            ),
        ).merge_attributes(tags=self.tags)

    def get_asset_check_spec(
        self,
        asset_spec: AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> AssetCheckSpec | None:
        """A dbt test runs whenever its model is built by the automation, not only when
        someone selects it."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        return AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=with_its_asset(),
        )
