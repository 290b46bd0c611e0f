#!/usr/bin/env bash
# Start, stop and inspect the platform's four processes (write API, relay, projector, search API) on loopback.
# Pid files and logs live under $STATE_DIR; processes are stopped by pid. Settings come from the environment
# (see README "Configuration"); anything exported before `make up` is passed through.
#
#   infra/platform.sh start|stop|status
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PROJECT_DIR"
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"
mkdir -p "$RUN_DIR" "$LOG_DIR"

WRITE_API_PORT="${WRITE_API_PORT:-8001}"
SEARCH_API_PORT="${SEARCH_API_PORT:-8002}"
export RELAY_PORT="${RELAY_PORT:-8003}"
export PROJECTOR_PORT="${PROJECTOR_PORT:-8004}"
# The search API's console sends commands to the write API, and its status page reads the other processes, here.
export WRITE_API_URL="${WRITE_API_URL:-http://127.0.0.1:$WRITE_API_PORT}"
export WRITE_API_PUBLIC_URL="${WRITE_API_PUBLIC_URL:-$WRITE_API_URL}"
export RELAY_OPS_URL="${RELAY_OPS_URL:-http://127.0.0.1:$RELAY_PORT}"
export PROJECTOR_OPS_URL="${PROJECTOR_OPS_URL:-http://127.0.0.1:$PROJECTOR_PORT}"
if [ "${ENVIRONMENT:-development}" = development ] && [ "$SEARCH_API_PORT" != 8002 ]; then
  # The write API's development default allows the console on port 8002 only.
  export CORS_ORIGINS="${CORS_ORIGINS:-http://127.0.0.1:$SEARCH_API_PORT,http://localhost:$SEARCH_API_PORT}"
fi
export DATABASE_URL="${DATABASE_URL:-postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB}"
export RABBITMQ_URL="${RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:$RABBITMQ_PORT/}"
export ELASTICSEARCH_URL="${ELASTICSEARCH_URL:-http://127.0.0.1:$ES_PORT}"
UVICORN_WORKERS="${UVICORN_WORKERS:-1}"

log() { printf '[platform] %s\n' "$*" >&2; }
pid_of() { [ -f "$RUN_DIR/$1.pid" ] && tr -d '[:space:]' <"$RUN_DIR/$1.pid" || true; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

declare -A COMMANDS=(
  [write_api]="$PY -m uvicorn write_api.main:create_app --factory --host 127.0.0.1 --port $WRITE_API_PORT --workers $UVICORN_WORKERS --no-access-log"
  [relay]="$PY -m write_api.relay"
  [projector]="$PY -m projector run"
  [search_api]="$PY -m uvicorn search_api.main:create_app --factory --host 127.0.0.1 --port $SEARCH_API_PORT --workers $UVICORN_WORKERS --no-access-log"
)
declare -A READY=(
  [write_api]="http://127.0.0.1:$WRITE_API_PORT/readyz"
  [relay]="http://127.0.0.1:$RELAY_PORT/readyz"
  [projector]="http://127.0.0.1:$PROJECTOR_PORT/readyz"
  [search_api]="http://127.0.0.1:$SEARCH_API_PORT/readyz"
)
ORDER=(write_api relay projector search_api)

start() {
  local name pipeline
  pipeline=$(pipeline_nice) || exit 1
  for name in "${ORDER[@]}"; do
    if alive "$(pid_of "$name")"; then log "$name already running (pid $(pid_of "$name"))"; continue; fi
    local nice=0
    case "$name" in relay|projector|search_api) nice=$pipeline ;; esac  # the read side: see env.sh
    # shellcheck disable=SC2086
    setsid sh -c "$IN_SESSION" sh "$nice" ${COMMANDS[$name]} >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$name.pid"
  done
  for name in "${ORDER[@]}"; do
    local deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null "${READY[$name]}" 2>/dev/null; do
      alive "$(pid_of "$name")" || { log "$name exited; last lines of $LOG_DIR/$name.log:"; tail -n 20 "$LOG_DIR/$name.log" >&2; exit 1; }
      [ $SECONDS -lt $deadline ] || { log "$name not ready after 60 s; see $LOG_DIR/$name.log"; exit 1; }
      sleep 0.3
    done
    log "$name ready (pid $(pid_of "$name")) ${READY[$name]%/readyz}"
    [ "$pipeline" = 0 ] || case "$name" in relay|projector|search_api) report_priority "$name" "$(pid_of "$name")" ;; esac
  done
}

stop() {
  local name pid i
  for name in search_api projector relay write_api; do
    pid=$(pid_of "$name")
    if alive "$pid"; then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do alive "$pid" || break; sleep 0.2; done
      alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
}

status() {
  local name rc=0
  for name in "${ORDER[@]}"; do
    if alive "$(pid_of "$name")"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
