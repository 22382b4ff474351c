# The PersistIQ code location as an image: `dagster api grpc` serving
# persistiq_dagster.definitions on port 3030, for Dagster's Helm chart (deploy/helm/values.yaml)
# or any Dagster deployment that loads code from a gRPC server. Build from the project folder:
#
#   docker build -t registry.example.com/persistiq-dagster:0.1.0 .
#
# Every Python package is installed at the version in constraints.txt, the set the tests passed
# with. No setting is baked in: PERSISTIQ_API_KEY and the warehouse's credentials come from the
# environment the deployment gives the container (in the Helm values, a Kubernetes Secret).
#
# BASE_IMAGE: any Debian-like image with `python3` 3.11+ and its venv module, for a registry that
# mirrors the default under another name (the tests build one from Debian's packages where
# Docker Hub cannot be reached: e2e/test_image.py).

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The dependencies first, in a layer of their own, so that a change to the code does not
# reinstall them. There is no package folder yet: this installs every dependency and an empty
# persistiq_dagster, replaced below. The postgres extra brings psycopg2 (a PostgreSQL warehouse)
# and dagster-postgres (run pods open the Helm chart's instance, whose storage is PostgreSQL).
COPY setup.py pyproject.toml constraints.txt ./
RUN pip install --no-cache-dir -c constraints.txt '.[postgres]'
COPY persistiq_dagster ./persistiq_dagster
RUN pip install --no-cache-dir --no-deps --force-reinstall -c constraints.txt '.[postgres]'
# The dbt project's manifest, parsed once here, as Dagster recommends: the code server reads it
# instead of running dbt each time it loads the Definitions. Run from / and not /src, so that
# Python imports the installed package (the one copied below) and the manifest is written into
# it, not into the source folder, which the final stage leaves behind.
WORKDIR /
RUN python -m persistiq_dagster.cli.prepare_analytics

FROM ${BASE_IMAGE}
# A user of its own, not root. Numeric in USER below, so that Kubernetes' runAsNonRoot can check
# it. It owns /opt/dagster: DAGSTER_HOME, dlt's working folder, a DuckDB file if one is used.
RUN groupadd --system --gid 10001 dagster \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/dagster \
        --shell /usr/sbin/nologin dagster \
    && mkdir -p /opt/dagster/dagster_home /opt/dagster/app /opt/dagster/data /opt/dagster/dlt \
    && chown -R 10001:10001 /opt/dagster
# The virtual environment alone: no source folder, no build tools, no pip cache.
COPY --from=build /opt/venv /opt/venv
# DAGSTER_HOME is where the Helm chart mounts the instance's dagster.yaml in run pods.
# PERSISTIQ_DUCKDB_PATH: the project's default file is beside the installed package, which this
# user cannot write; a deployment that loads into DuckDB mounts a volume at /opt/dagster/data.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PERSISTIQ_PIPELINES_DIR=/opt/dagster/dlt/pipelines \
    PERSISTIQ_DUCKDB_PATH=/opt/dagster/data/persistiq_warehouse.duckdb
WORKDIR /opt/dagster/app
USER 10001:10001
EXPOSE 3030
# For `docker run` and Compose; Kubernetes ignores it (the Helm chart runs the same check as
# the code server's readiness probe).
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s \
    CMD ["dagster", "api", "grpc-health-check", "-p", "3030"]
# The Helm chart replaces this with the same command built from dagsterApiGrpcArgs and port.
CMD ["dagster", "api", "grpc", "-m", "persistiq_dagster.definitions", "-h", "0.0.0.0", "-p", "3030"]
