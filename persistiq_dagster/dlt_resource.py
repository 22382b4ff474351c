"""dagster-dlt's resource, with the run's dlt load ids in every materialisation.

The checks count a run's rows by its own load ids (``_dlt_load_id``), read from here, rather
than guessing the load from timestamps.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, MetadataValue, OpExecutionContext
from dagster_dlt import DagsterDltResource
from dlt.common.pipeline import LoadInfo
from dlt.extract.resource import DltResource
from dlt.pipeline.pipeline import Pipeline

LOAD_IDS_METADATA_KEY = "dlt/load_ids"


class PersistIQDltResource(DagsterDltResource):
    def extract_resource_metadata(
        self,
        context: OpExecutionContext | AssetExecutionContext,
        resource: DltResource,
        load_info: LoadInfo,
        dlt_pipeline: Pipeline,
    ) -> Mapping[str, Any]:
        metadata = super().extract_resource_metadata(context, resource, load_info, dlt_pipeline)
        return {**metadata, LOAD_IDS_METADATA_KEY: MetadataValue.json(list(load_info.loads_ids))}
