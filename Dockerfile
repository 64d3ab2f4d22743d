# syntax=docker/dockerfile:1
#
# One image for every mlharbor role; the command picks the role (compose.yaml runs them all):
#   serve --host 0.0.0.0                 API + UI (MLHARBOR_WORKERS=0 when worker services run)
#   serve --host 0.0.0.0 --role predict  a predict-only replica
#   worker --concurrency 2               a job worker (trains, scores, checks drift)
#   --entrypoint dask: scheduler / worker tcp://SCHEDULER:8786
#                                        a Dask cluster whose workers can run mlharbor's tasks
#
# Build: docker build -t mlharbor .   Run alone (SQLite and artifacts in the volume):
#   docker run -d -p 127.0.0.1:8000:8000 -v mlharbor-data:/data --name mlharbor mlharbor
#   docker exec mlharbor mlharbor keys create --scope admin

# The builder makes a wheel of every dependency at the versions in constraints.txt (the ones
# the test suite ran against) and of mlharbor itself; compilers live only in this stage, for a
# dependency that has no wheel for the build platform.
FROM python:3.11-slim AS builder
# Debian's slim images move with security updates; pinned package versions would break builds.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY constraints.txt pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
# libgomp1: LightGBM's wheel links the system's OpenMP runtime (scikit-learn bundles its own).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mlharbor \
    && useradd --system --uid 10001 --gid mlharbor --create-home --home-dir /home/mlharbor \
        --shell /usr/sbin/nologin mlharbor \
    && mkdir /data \
    && chown mlharbor:mlharbor /data
# Only the wheels are installed, offline and from the builder, so nothing newer slips in.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/constraints.txt,target=/constraints.txt \
    pip install --no-cache-dir --no-index --find-links=/wheels -c /constraints.txt mlharbor

# Auth is on in the image: `serve` refuses a non-loopback address without API keys.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MLHARBOR_DATA_DIR=/data \
    MLHARBOR_AUTH_ENABLED=true
# Numeric, so Kubernetes' runAsNonRoot can verify it without the image's /etc/passwd.
USER 10001:10001
WORKDIR /home/mlharbor
# With PostgreSQL and S3 configured, /data only stages uploads; alone, it is the whole store.
VOLUME ["/data"]
EXPOSE 8000
# curl is not in the slim image; Python is. Roles without HTTP override this (compose.yaml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MLHARBOR_PORT', '8000') + '/healthz', timeout=4)"]
ENTRYPOINT ["mlharbor"]
CMD ["serve", "--host", "0.0.0.0"]
