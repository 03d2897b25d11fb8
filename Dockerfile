# pagerbot's image: `DOCKER_BUILDKIT=1 docker build -t pagerbot .`; running it (replicas on PostgreSQL, the
# environment, /healthz /readyz /metrics, logs, SIGTERM, the tested commands and sizes): README, "Production"
# and "The container image".
#
# BASE is any Debian-like image with python3 (3.11+) and its venv module: the official python:3.11-slim by
# default, or one made from Debian's packages where no registry is reachable (README). No `# syntax=` line:
# it would pull a frontend image; the engine's built-in BuildKit frontend reads this file.
# A package index behind a TLS-inspecting proxy: pass its CA bundle as the optional build secret `cacert`
# (`--secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt`); a secret never ends up in a layer.
ARG BASE=python:3.11-slim

# --- build: a virtualenv with pagerbot and its dependencies (wheels only; no compiler in either stage) ---
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# strip (binutils), for the debugging symbols the dependencies' extension modules carry: a third of the image.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python3 -m venv /opt/pagerbot
# The dependencies first, from pyproject.toml alone: this slow layer is reused until they change, and pip's
# download cache (a cache mount, not a layer) is kept between builds.
COPY pyproject.toml ./
RUN python3 -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=cacert \
    if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi \
 && /opt/pagerbot/bin/pip install --no-compile --only-binary=:all: -r requirements.txt
# Smaller: no test suites, C headers, type stubs or Cython sources of the dependencies; extension modules
# without their debugging symbols (the bundled libraries in *.libs/ are left alone: auditwheel rewrote them,
# and strip can break such files). Done on the dependencies' layer, so a change to pagerbot does not redo it.
RUN find /opt/pagerbot -depth \( -type d \( -name tests -o -name test -o -name include \) \
      -o -type f \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' -o -name '*.h' -o -name '*.c' \) \) \
      -exec rm -rf '{}' + \
 && find /opt/pagerbot -type f -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded '{}' +
COPY README.md ./
COPY pagerbot ./pagerbot
# pagerbot itself, then no pip. Bytecode only for what pagerbot imports (pip compiled nothing): importing
# every pagerbot module, the database drivers and uvicorn's fast loop writes it, and fails the build if a
# file deleted or stripped above was needed after all (run from /, so the installed copy is imported).
RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=cacert \
    if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi \
 && /opt/pagerbot/bin/pip install --no-compile --no-deps . \
 && /opt/pagerbot/bin/pip uninstall --yes --quiet pip setuptools wheel \
 && cd / && /opt/pagerbot/bin/python -c "import importlib, pkgutil, pagerbot; \
[importlib.import_module(m.name) for m in pkgutil.walk_packages(pagerbot.__path__, 'pagerbot.') \
 if not m.name.endswith('__main__')]; \
import sqlalchemy.dialects.postgresql.asyncpg, sqlalchemy.dialects.sqlite.aiosqlite, alembic.ddl.postgresql, \
 alembic.ddl.sqlite, uvicorn.loops.uvloop, uvicorn.protocols.http.httptools_impl, uvicorn.lifespan.on, \
 matplotlib.backends.backend_agg"

# --- run: the base, the virtualenv, the migrations; a numeric non-root user (Kubernetes can check it) ---
FROM ${BASE}
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
    MPLCONFIGDIR=/tmp/matplotlib \
    PAGERBOT_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz
WORKDIR /app
USER 10001:10001
# The only place pagerbot writes besides /tmp (the SQLite database and its inbox file): a volume, so the
# rest of the filesystem can be read-only (`docker run --read-only --tmpfs /tmp`).
VOLUME /app/data
EXPOSE 8080
# Liveness only: /readyz (the database answers) is for load balancers, so a database outage does not get
# every replica restarted. A server started on another port (`--network host`) sets PAGERBOT_HEALTHCHECK_URL.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(os.environ['PAGERBOT_HEALTHCHECK_URL'], timeout=2).status == 200 else 1)"]
# SIGTERM (docker stop): in-flight requests and the outbox batch finish, then exit 0 within
# server.shutdown_seconds (8 s by default, inside Docker's 10 s grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["pagerbot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
