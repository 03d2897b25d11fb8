# syntax=docker/dockerfile:1
# Build: docker build -t pagerbot .   Run: see README (docker-compose example with PostgreSQL).
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/pagerbot
COPY pyproject.toml README.md ./
COPY pagerbot ./pagerbot
RUN /opt/pagerbot/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin pagerbot
COPY --from=build /opt/pagerbot /opt/pagerbot
COPY migrations /app/migrations
ENV PATH=/opt/pagerbot/bin:$PATH \
    PAGERBOT_MIGRATIONS=/app/migrations \
    PAGERBOT_DATABASE_URL=sqlite:////app/data/pagerbot.db \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /app
RUN mkdir -p /app/data && chown pagerbot /app/data
USER pagerbot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["pagerbot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
