"""What the asset pages show beyond the translator's specs: links to the code, and no
"(unserializable)" rows.

``@dlt_assets`` files the dlt source, pipeline and translator objects in every spec's metadata
(``dagster_dlt/...``), where the UI can only print their class names. The multi-asset's outputs
keep them too, so a spec cannot drop them; each is replaced by a line that describes it.
dagster-dlt reads the objects back only when a run passes none of the three; ours pass all three.
Code references are Dagster's: the file and line of the function that loads each table, and,
with a code repository URL in the settings, the same on GitHub or GitLab.
"""

import warnings
from collections.abc import Sequence

from dagster import (
    AnchorBasedFilePathMapping,
    AssetsDefinition,
    AssetSpec,
    BetaWarning,
    MetadataValue,
    link_code_references_to_git,
    map_asset_specs,
    with_source_code_references,
)
from dlt.extract.source import DltSource
from dlt.pipeline.pipeline import Pipeline

from persistiq_dagster.config import CODE_REPOSITORY_URL_ENV, PROJECT_DIR, PersistIQConfigError

DLT_OBJECTS_PREFIX = "dagster_dlt/"
# A file at the same place in the checkout and in the repository: every other path follows.
ANCHOR = "setup.py"


def describe(value: object) -> str:
    """One line for a dlt object dagster-dlt keeps in the metadata."""
    if isinstance(value, DltSource):
        return f"dlt source {value.name}: {', '.join(value.selected_resources)}"
    if isinstance(value, Pipeline):
        destination = value.destination.destination_name if value.destination else "none"
        return (
            f"dlt pipeline {value.pipeline_name} into {destination}, dataset {value.dataset_name}"
        )
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _dlt_objects_described(spec: AssetSpec) -> AssetSpec:
    return spec.merge_attributes(
        metadata={
            key: MetadataValue.text(describe(value))
            for key, value in spec.metadata.items()
            if key.startswith(DLT_OBJECTS_PREFIX)
        }
    )


def for_asset_pages(
    assets_defs: Sequence[AssetsDefinition], repository_url: str | None, branch: str
) -> list[AssetsDefinition]:
    """``assets_defs`` with readable metadata only, and links to their code: in
    ``repository_url`` on ``branch`` when one is given, else on this machine."""
    # Code references are beta in Dagster 1.13, knowingly used: no warning at every load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        described = map_asset_specs(_dlt_objects_described, assets_defs)
        return _linked(described, repository_url, branch)


def _linked(
    assets_defs: Sequence[AssetsDefinition], repository_url: str | None, branch: str
) -> list[AssetsDefinition]:
    referenced = with_source_code_references(assets_defs)
    if not repository_url:
        return list(referenced)  # type: ignore[arg-type]
    try:
        return list(
            link_code_references_to_git(  # type: ignore[arg-type]
                referenced,
                git_url=repository_url.rstrip("/"),
                git_branch=branch,
                file_path_mapping=AnchorBasedFilePathMapping(
                    local_file_anchor=PROJECT_DIR / ANCHOR,
                    file_anchor_path_in_repository=ANCHOR,
                ),
            )
        )
    except ValueError as error:  # Dagster links to GitHub and GitLab only
        raise PersistIQConfigError(
            f"{CODE_REPOSITORY_URL_ENV}={repository_url!r}: {error}"
        ) from None
