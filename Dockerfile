# Arabic news alert bot: one long-running daemon, SQLite in the /data volume, config in /config.
# Build:  docker build -t arabic-news-bot .
# The base can be swapped (CI builds on a local Debian stand-in): --build-arg BASE_IMAGE=... or buildah --from.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PTB_TIMEDELTA=1

# Dependencies first, against a placeholder package, so that editing bot/ does not reinstall them.
WORKDIR /src
COPY pyproject.toml README.md ./
RUN mkdir bot && touch bot/__init__.py \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install . \
 && rm -rf bot build
COPY bot ./bot
RUN /opt/venv/bin/pip install --no-deps --force-reinstall . \
 && rm -rf /src

# Bundled defaults: the image runs as-is; mounting a folder on /config replaces them.
WORKDIR /app
COPY samples ./samples
COPY watchlists ./watchlists
COPY deploy/config.toml /config/config.toml
COPY watchlists /config/watchlists

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir -p /data /app/.demo \
 && chown app:app /data /app/.demo

USER 10001:10001
VOLUME ["/data"]
EXPOSE 9108
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python", "-m", "bot", "health", "--config", "/config/config.toml"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run", "--config", "/config/config.toml"]
