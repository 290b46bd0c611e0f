# Sourced by every infra script: where state lives, which versions and ports we run.
# Every value can be overridden from the environment.
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_DIR="$(cd "$INFRA_DIR/.." && pwd)"
STATE_DIR="${STATE_DIR:-$PROJECT_DIR/.state}"

ES_VERSION="${ES_VERSION:-8.19.21}"
ES_PORT="${ES_PORT:-9200}"
ES_HEAP="${ES_HEAP:-2g}"
ES_USER="${ES_USER:-elasticsearch}"

PG_PORT="${PG_PORT:-5432}"
PG_DB="${PG_DB:-shop}"
PG_ROLE="${PG_ROLE:-shop}"
PG_PASSWORD="${PG_PASSWORD:-shop}"

RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"

PY="${PY:-$PROJECT_DIR/.venv/bin/python}"
