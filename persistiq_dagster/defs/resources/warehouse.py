"""The warehouse resource: where the data lands (a dlt destination and dataset), its dlt
pipelines, and the lock every step that touches it holds."""

import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dlt
from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    ConfigurableResource,
    OpExecutionContext,
)
from dlt.common.destination import Destination
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.pipeline.pipeline import Pipeline
from pydantic import Field

from persistiq_dagster import config
from persistiq_dagster.config import PersistIQConfigError, Settings
from persistiq_dagster.defs.resources.warehouse_lock import warehouse_lock
from persistiq_dagster.source.http.errors import causes

# dlt's setting, under each pipeline's name, for gzip between extract and normalize (off here).
DLT_NO_COMPRESSION = "DATA_WRITER__DISABLE_COMPRESSION"


class PersistIQWarehouse(ConfigurableResource):
    """Where the data lands: a dlt destination and dataset (DuckDB file by default).

    dlt's working state lives in a folder of its own per warehouse (destination, location and
    dataset) under ``pipelines_dir``, so a new warehouse starts clean and two warehouses never
    read each other's state. Steps that touch the warehouse hold ``lock()``.
    """

    destination: str = Field(default=config.DEFAULT_DESTINATION)
    duckdb_path: str = Field(default=config.DEFAULT_DUCKDB_PATH)
    dataset_name: str = Field(default=config.DEFAULT_DATASET)
    loader_file_format: str = Field(default=config.DEFAULT_LOADER_FILE_FORMAT)
    pipelines_dir: str | None = Field(
        default=None, description="dlt's working folder; dlt's default when unset."
    )
    duckdb_memory_limit: str = Field(
        default=config.DEFAULT_DUCKDB_MEMORY_LIMIT,
        description="DuckDB's memory_limit while loading; beyond it DuckDB spills to disk.",
    )
    lock_timeout_seconds: float = Field(
        default=config.DEFAULT_WAREHOUSE_LOCK_TIMEOUT_SECONDS,
        ge=0,
        description="How long a step waits for another run to finish with the warehouse.",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> "PersistIQWarehouse":
        return cls(
            destination=settings.destination,
            duckdb_path=settings.duckdb_path,
            dataset_name=settings.dataset,
            loader_file_format=settings.loader_file_format,
            pipelines_dir=settings.pipelines_dir,
            duckdb_memory_limit=settings.duckdb_memory_limit,
            lock_timeout_seconds=settings.warehouse_lock_timeout_seconds,
        )

    @property
    def is_duckdb(self) -> bool:
        return self.destination == "duckdb"

    def build_pipeline(self, pipeline_name: str) -> Pipeline:
        """The run's dlt pipeline. dlt gzips the files it passes from extract to normalize,
        a third of extract's time for leads (100,000 leads: 10.7 s, 7.1 s without) to save
        disk the load deletes anyway: it is off for this pipeline unless the environment
        sets dlt's own variable for it, ``<PIPELINE_NAME>__DATA_WRITER__DISABLE_COMPRESSION``.
        """
        os.environ.setdefault(f"{pipeline_name.upper()}__{DLT_NO_COMPRESSION}", "true")
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=self._destination(),
            dataset_name=self.dataset_name,
            pipelines_dir=str(self.working_dir()),
        )

    def spec_pipeline(self, pipeline_name: str) -> Pipeline:
        """A pipeline that only names the destination (for asset specs): no file is checked."""
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=self.destination,
            dataset_name=self.dataset_name,
            pipelines_dir=str(self.working_dir()),
        )

    def explain_failure(self, error: BaseException) -> str | None:
        """One line, with the setting to change, when the warehouse could not take the load;
        None otherwise. The failed load wrote nothing; dagster-dlt starts every run from a
        clean pipeline (it drops pending load packages), so the next run of the same window
        reads PersistIQ again."""
        if self.is_duckdb and any("Out of Memory Error" in str(e) for e in causes(error)):
            return (
                f"DuckDB ran out of the memory {config.DUCKDB_MEMORY_LIMIT_ENV} allows it "
                f"({self.duckdb_memory_limit}) while loading into {self.duckdb_path}. Raise it, "
                f"e.g. {config.DUCKDB_MEMORY_LIMIT_ENV}=1GB, and run the same window again: "
                "nothing was written, and that run reads PersistIQ again."
            )
        return None

    def working_dir(self) -> Path:
        """dlt's pipelines folder for this warehouse alone."""
        base = Path(self.pipelines_dir or get_dlt_pipelines_dir()).expanduser()
        return base / warehouse_key(self.destination, self._location(), self.dataset_name)

    @contextmanager
    def lock(self, what: str, log: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the warehouse for one step (see ``warehouse_lock``)."""
        if self.is_duckdb:
            path = self._writable_duckdb_path()
            lock_path = path.with_name(path.name + ".lock")
        else:
            lock_path = self.working_dir() / "warehouse.lock"
        with warehouse_lock(lock_path, what, self.lock_timeout_seconds, log):
            yield

    def qualified_table_name(self, table: str) -> str:
        """Where to query ``table``: ``<catalog>.<dataset>.<table>`` for DuckDB."""
        if self.is_duckdb:
            return f"{Path(self.duckdb_path).stem}.{self.dataset_name}.{table}"
        return f"{self.dataset_name}.{table}"

    def _location(self) -> str:
        if self.is_duckdb:
            return str(Path(self.duckdb_path).expanduser().resolve())
        return credentials_location(self.destination)

    def _writable_duckdb_path(self) -> Path:
        path = Path(self.duckdb_path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path.parent):
                pass
            if path.exists() and not os.access(path, os.W_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        except OSError as error:
            raise PersistIQConfigError(
                f"Cannot write {path}: {error.strerror or error}. Set {config.DUCKDB_PATH_ENV} "
                "to a file in a folder you can write to."
            ) from None
        return path

    def _destination(self) -> str | Destination:
        if not self.is_duckdb:
            return self.destination  # credentials are read by dlt, e.g. DESTINATION__...
        path = self._writable_duckdb_path()
        if path.stem.lower() == self.dataset_name.lower():
            raise PersistIQConfigError(
                f"{config.DUCKDB_PATH_ENV}={self.duckdb_path} is named like the dataset "
                f"{self.dataset_name!r}: DuckDB names its catalog after the file, and every "
                f"load would fail with 'Ambiguous reference to catalog or schema'. Rename the "
                f"file or set {config.DATASET_ENV} to another name."
            )
        # Without a limit a merge holds memory in proportion to the load; insertion order is
        # not needed (dedup and scd2 order explicitly) and costs memory to keep.
        duckdb_settings: dict[str, Any] = {
            "memory_limit": self.duckdb_memory_limit,
            "preserve_insertion_order": False,
        }
        return dlt.destinations.duckdb(
            credentials={"database": str(path), "global_config": duckdb_settings}
        )


def step_holder(
    context: AssetExecutionContext | AssetCheckExecutionContext | OpExecutionContext,
) -> str:
    """Who holds the warehouse lock, as a user would look it up in the UI: run and step."""
    return f"run {context.run.run_id} step {context.op_execution_context.op.name}"


def warehouse_key(destination: str, location: str, dataset: str) -> str:
    """A folder name per warehouse: readable, and unique through a short hash."""
    digest = hashlib.sha256(f"{destination}|{location}|{dataset}".encode()).hexdigest()[:10]
    readable = Path(location).stem if destination == "duckdb" else destination
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{readable}.{dataset}")[:60]
    return f"{slug}.{digest}"


SECRET_PARTS = ("password", "secret", "token", "private_key", "key")


def credentials_location(destination: str) -> str:
    """Where dlt's configured credentials for ``destination`` point, without secrets."""
    credentials = dlt.secrets.get(f"destination.{destination}.credentials")
    if credentials is None:
        return ""
    if isinstance(credentials, str):
        parts = urlsplit(credentials)
        host = parts.hostname or ""
        return f"{parts.scheme}://{parts.username or ''}@{host}:{parts.port or ''}{parts.path}"
    if isinstance(credentials, Mapping):
        return repr(
            sorted(
                (key, str(value))
                for key, value in credentials.items()
                if not any(part in key.lower() for part in SECRET_PARTS)
            )
        )
    return type(credentials).__name__
