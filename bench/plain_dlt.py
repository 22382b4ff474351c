"""The plain dlt script a user might write instead of this project: every lead into DuckDB.

    python bench/plain_dlt.py --base-url URL --api-key KEY --duckdb PATH \
        --pipelines-dir DIR --start 2024-01-01T00:00:00Z

Prints {"rows": N} (rows in the leads table after the load) on its last stdout line.
"""

import argparse
import json

import dlt
from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--base-url", "--api-key", "--duckdb", "--pipelines-dir", "--start"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()

    source = rest_api_source(
        {
            "client": {
                "base_url": args.base_url,
                "auth": {"type": "api_key", "name": "x-api-key", "api_key": args.api_key},
                "paginator": PageNumberPaginator(
                    base_page=1, page_param="page", total_path=None, has_more_path="has_more"
                ),
            },
            "resources": [
                {
                    "name": "leads",
                    "primary_key": "id",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": "leads",
                        "data_selector": "leads",
                        "incremental": {
                            "start_param": "updated_after",
                            "cursor_path": "updated_at",
                            "initial_value": args.start,
                        },
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="plain_persistiq",
        destination=dlt.destinations.duckdb(args.duckdb),
        dataset_name="persistiq",
        pipelines_dir=args.pipelines_dir,
    )
    pipeline.run(source, loader_file_format="parquet")
    with pipeline.sql_client() as client:
        rows = client.execute_sql("select count(*) from leads")[0][0]
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
