# syndbot's container image: `syndbot run` as an unprivileged user.
#
#   docker build -t syndbot .
#   docker run -d --name syndbot --env-file .env \
#       -v "$PWD/deploy/docker:/config:ro" -v syndbot-data:/data syndbot
#
# The config is read-only at /config/syndbot.yaml (mount its folder); the ledger (SQLite),
# Bluesky sessions and refreshed Threads tokens live in the /data volume; secrets come only
# from the environment (`--env-file`, compose's `env_file:`), never from a file in the image.
# docker-compose.yml runs the daemon, the web UI and (optionally) PostgreSQL.
# README.md, "Ops guide", explains every step.

# --- build: the wheel and every dependency, into a virtualenv ----------------------------------
FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/syndbot
COPY pyproject.toml README.md ./
COPY bot ./bot
# Every dependency ships a wheel for this platform (or is pure Python): no compiler needed.
RUN /opt/syndbot/bin/pip install '.[postgres]'

# --- run: the virtualenv on a clean slim image -----------------------------------------------
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="syndbot" \
      org.opencontainers.image.description="A newsroom's new articles reach its social accounts exactly once." \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/syndbot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SYNDBOT_CONFIG=/config/syndbot.yaml

# A fixed uid/gid, so a bind-mounted /data can be given to it: chown 10001:10001 DIR.
RUN groupadd --system --gid 10001 syndbot \
    && useradd --system --uid 10001 --gid syndbot --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin syndbot \
    && mkdir -p /data /config \
    && chown syndbot:syndbot /data \
    && chmod 0700 /data

COPY --from=builder /opt/syndbot /opt/syndbot

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

# 8080: `syndbot web` (the editors' UI); 9300: the monitor (/healthz, /readyz, /metrics).
EXPOSE 8080 9300

# The monitor answers /healthz while the daemon runs (config `monitor: {enabled: true}`).
# Python's urllib, as the slim image has no curl; no proxy (an HTTP_PROXY set for the
# platforms must not carry this local request). A refused or failed request exits 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; r = u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:9300/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

ENTRYPOINT ["syndbot"]
CMD ["run"]
