# One image for every Python process of the platform; docker-compose.yml picks the process with `command:`.
#   write API   uvicorn write_api.main:create_app --factory --host 0.0.0.0 --port 8001   (the default CMD)
#   relay       python -m write_api.relay          (health on RELAY_PORT, default 8003)
#   projector   python -m projector run            (health on PROJECTOR_PORT, default 8004)
#   search API  uvicorn search_api.main:create_app --factory --host 0.0.0.0 --port 8002
#   migrations  python -m write_api.migrate        (one-shot; reads /app/infra/postgres/*.sql)
# The source tree is run in place from /app (PYTHONPATH), not installed as a wheel: the migrations are found
# relative to the package source, at <root>/infra/postgres.
# Swagger UI for /docs, from the npm registry as package-lock.json pins it (no install scripts run): the APIs serve
# it themselves (shared/api_docs.py), so /docs needs no CDN.
FROM node:20-slim AS web-assets
WORKDIR /assets
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Unprivileged runtime user; the code stays owned by root, so the processes cannot change it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first (pinned, pip-freeze style), so that a code change does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# The source tree (see .dockerignore for what is left out), readable by everyone, writable by root only.
COPY . .
COPY --from=web-assets /assets/node_modules/swagger-ui-dist /app/node_modules/swagger-ui-dist
RUN python -m compileall -q write_api projector search_api shared

USER 10001:10001

EXPOSE 8001 8002 8003 8004

# Exec form, so that uvicorn is PID 1 and receives SIGTERM from `docker stop` directly.
CMD ["uvicorn", "write_api.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8001"]
