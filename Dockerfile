# oncallbot: `oncallbot serve` as a non-root user. Mount your config at /config/oncallbot.yaml
# (with its rotation .ics beside it, if you use one) and pass secrets as environment variables:
#   docker run -p 8080:8080 -v $PWD/config:/config:ro -v oncallbot-data:/data \
#     -e ONCALLBOT_API_TOKEN -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET ... oncallbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ONCALLBOT_CONFIG=/config/oncallbot.yaml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY oncallbot ./oncallbot
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /data --create-home oncallbot

COPY config /config

USER oncallbot
# The embedded SQLite database (storage.sqlite_path, relative to the working directory) lives in /data.
WORKDIR /data
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# Listen on all interfaces inside the container; the migration is idempotent.
CMD ["sh", "-c", "oncallbot db upgrade && exec oncallbot serve --host 0.0.0.0"]
