# syntax=docker/dockerfile:1
# pagerbot's image: `docker build -t pagerbot .`; running it (replicas on PostgreSQL, the environment,
# /healthz /readyz /metrics, logs, SIGTERM): README, "Production".

# --- build: a virtualenv with pagerbot and its dependencies (wheels only; no compiler in either stage) ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/pagerbot
COPY pyproject.toml README.md ./
COPY pagerbot ./pagerbot
RUN /opt/pagerbot/bin/pip install --only-binary=:all: . \
 && /opt/pagerbot/bin/python -m compileall -q /opt/pagerbot/lib

# --- run: the slim base, the virtualenv, the migrations; a numeric non-root user (Kubernetes can check it) ---
FROM python:3.11-slim
RUN groupadd --system --gid 10001 pagerbot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin pagerbot \
 && mkdir -p /app/data && chown 10001:10001 /app/data
COPY --from=build /opt/pagerbot /opt/pagerbot
COPY migrations /app/migrations
ENV PATH=/opt/pagerbot/bin:$PATH \
    PAGERBOT_MIGRATIONS=/app/migrations \
    PAGERBOT_DATABASE_URL=sqlite:////app/data/pagerbot.db \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# Liveness only: /readyz (the database answers) is for load balancers, so a database outage does not get
# every replica restarted.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
# SIGTERM (docker stop): in-flight requests and the outbox batch finish, then exit 0 within
# server.shutdown_seconds (8 s by default, inside Docker's 10 s grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["pagerbot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
