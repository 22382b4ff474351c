"""Every setting of the project in one place: environment variable names and defaults.

Values are read when the code location loads (``dagster dev`` reloads it from the UI), with
these defaults when a variable is unset; the API key alone stays a ``dagster.EnvVar``, read when
a run starts, so it never enters run config.
"""

from pathlib import Path

from persistiq_dagster import __version__

# PersistIQ API client
API_KEY_ENV = "PERSISTIQ_API_KEY"
BASE_URL_ENV = "PERSISTIQ_BASE_URL"
USER_AGENT_ENV = "PERSISTIQ_USER_AGENT"
START_DATE_ENV = "PERSISTIQ_START_DATE"
REQUESTS_PER_MINUTE_ENV = "PERSISTIQ_REQUESTS_PER_MINUTE"
MAX_RETRIES_ENV = "PERSISTIQ_MAX_RETRIES"
CONCURRENT_REQUESTS_ENV = "PERSISTIQ_CONCURRENT_REQUESTS"

# What to load
EXCLUDE_TABLES_ENV = "PERSISTIQ_EXCLUDE_TABLES"  # comma list of optional tables not loaded
LOAD_REPLY_BODIES_ENV = "PERSISTIQ_LOAD_REPLY_BODIES"
# Reply bodies are what prospects wrote: personal data that reply rates and sentiment do not
# need. Off by default (data minimisation); a team that reads them turns them on.
DEFAULT_LOAD_REPLY_BODIES = False
REPLY_BODY_FIELDS = ("body", "preview")

DEFAULT_BASE_URL = "https://api.persistiq.com/v1/"
DEFAULT_USER_AGENT = f"persistiq_dagster/{__version__} (dlt rest_api)"
DEFAULT_START_DATE = "2024-01-01"
# PersistIQ's API description: 1000 requests a minute, exponential backoff, at most 7 retries.
DEFAULT_REQUESTS_PER_MINUTE = 1000
DEFAULT_MAX_RETRIES = 7
# Pages of one list in flight at once: at 150 ms an answer, 8 keep a 1,000-a-minute budget busy.
DEFAULT_CONCURRENT_REQUESTS = 8
DEFAULT_BACKOFF_FACTOR = 1.0
DEFAULT_MAX_RETRY_DELAY = 60.0
DEFAULT_REQUEST_TIMEOUT = 60.0
PAGE_PARAM = "page"
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)

# Partitions and schedules
TIMEZONE_ENV = "PERSISTIQ_TIMEZONE"
DEFAULT_TIMEZONE = "UTC"
USERS_CAMPAIGNS_CRON_ENV = "PERSISTIQ_USERS_CAMPAIGNS_CRON"
DEFAULT_USERS_CAMPAIGNS_CRON = "0 6 * * *"
LEADS_CRON_ENV = "PERSISTIQ_LEADS_CRON"
DEFAULT_LEADS_CRON = "15 0 * * *"  # just after midnight: yesterday's partition has closed
ACTIVITY_CRON_ENV = "PERSISTIQ_ACTIVITY_CRON"
DEFAULT_ACTIVITY_CRON = "30 0 * * *"  # events and replies of the day that closed

# Warehouse (dlt destination)
DESTINATION_ENV = "PERSISTIQ_DESTINATION"
DUCKDB_PATH_ENV = "PERSISTIQ_DUCKDB_PATH"
DATASET_ENV = "PERSISTIQ_DATASET"
LOADER_FILE_FORMAT_ENV = "PERSISTIQ_LOADER_FILE_FORMAT"
PIPELINES_DIR_ENV = "PERSISTIQ_PIPELINES_DIR"
WAREHOUSE_LOCK_TIMEOUT_ENV = "PERSISTIQ_WAREHOUSE_LOCK_TIMEOUT_SECONDS"
DUCKDB_MEMORY_LIMIT_ENV = "PERSISTIQ_DUCKDB_MEMORY_LIMIT"

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DESTINATION = "duckdb"
# Not named like the dataset: DuckDB names its catalog after the file, and a catalog and a
# schema of one name make every load fail with "Ambiguous reference to catalog or schema".
DEFAULT_DUCKDB_PATH = str(PROJECT_DIR / "data" / "persistiq_warehouse.duckdb")
DEFAULT_DATASET = "persistiq"
# dlt's default for DuckDB is INSERT statements: 45 s and 5.9 GB for 100k leads, measured.
DEFAULT_LOADER_FILE_FORMAT = "parquet"
# PostgreSQL: dlt's own choice. Parquet needs an ADBC driver; with csv, dlt 1.31 reports
# inflated row counts (35 for 5 users, measured), which the row checks would read.
DEFAULT_LOADER_FILE_FORMATS = {"postgres": "insert_values"}
# DuckDB's memory for a load (it spills to disk beyond). Left to DuckDB (80% of RAM), merging
# 1M leads took the process to 975 MB; with 128MB, 424 MB. With 64MB that merge ran out.
DEFAULT_DUCKDB_MEMORY_LIMIT = "128MB"
# dlt's setting, under each pipeline's name, for gzip between extract and normalize (off here).
DLT_NO_COMPRESSION = "DATA_WRITER__DISABLE_COMPRESSION"
# How long a step waits for another run to finish with the warehouse before it fails.
DEFAULT_WAREHOUSE_LOCK_TIMEOUT_SECONDS = 1800

# Dagster
ASSET_KEY_PREFIX = "persistiq"
GROUP_NAME = "persistiq"
CORE_PIPELINE_NAME = "persistiq_core"
LEADS_PIPELINE_NAME = "persistiq_leads"
ACTIVITY_PIPELINE_NAME = "persistiq_activity"
WAREHOUSE_POOL = "persistiq_warehouse"
# Who owns the assets and the tags a team filters them by in the UI (tag persistiq/loads is
# always added). Owners: comma list of team:<name> or email addresses; tags: key=value list.
ASSET_OWNERS_ENV = "PERSISTIQ_ASSET_OWNERS"
DEFAULT_ASSET_OWNERS = ("team:data-engineering",)
ASSET_TAGS_ENV = "PERSISTIQ_ASSET_TAGS"
DEFAULT_ASSET_TAGS = {"source": "persistiq", "domain": "sales"}
# The asset pages link to the code that loads each table: on this machine by default; to the
# repository's web pages (GitHub or GitLab) when its URL is set.
CODE_REPOSITORY_URL_ENV = "PERSISTIQ_CODE_REPOSITORY_URL"
CODE_REPOSITORY_BRANCH_ENV = "PERSISTIQ_CODE_REPOSITORY_BRANCH"
DEFAULT_CODE_REPOSITORY_BRANCH = "main"

# Sensors
LEADS_SENSOR_INTERVAL_ENV = "PERSISTIQ_LEADS_SENSOR_INTERVAL_SECONDS"
DEFAULT_LEADS_SENSOR_INTERVAL_SECONDS = 300
FAILURE_WEBHOOK_URL_ENV = "PERSISTIQ_FAILURE_WEBHOOK_URL"

# Freshness checks (WARN): a snapshot not loaded for this many hours is overdue...
FRESHNESS_HOURS_ENV = "PERSISTIQ_FRESHNESS_HOURS"
DEFAULT_FRESHNESS_HOURS = 26  # the daily refresh, with two hours to spare
# ...and leads, events and replies not loaded since midnight by this time of day (HH:MM, in
# PERSISTIQ_TIMEZONE), when the day that closed at midnight should have been loaded.
FRESHNESS_DEADLINE_ENV = "PERSISTIQ_FRESHNESS_DEADLINE"
DEFAULT_FRESHNESS_DEADLINE = "09:00"
FRESHNESS_SENSOR_INTERVAL_SECONDS = 300
