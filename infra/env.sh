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
# Memory of a new PostgreSQL cluster (written at initdb): the platform's, or a test's own small one.
PG_SHARED_BUFFERS="${PG_SHARED_BUFFERS:-512MB}"

RABBITMQ_PORT="${RABBITMQ_PORT:-5672}"
RABBITMQ_DIST_PORT="${RABBITMQ_DIST_PORT:-25672}"

PY="${PY:-$PROJECT_DIR/.venv/bin/python}"

# CPU priority of the read-side pipeline (Elasticsearch, RabbitMQ, relay, projector): a nice value, negative = higher
# than the write API and PostgreSQL. On a machine that the writes saturate, the pipeline then gets the CPU it needs
# and reads stay fresh, while writes slow down instead. 0 turns it off. See README "CPU priority".
PIPELINE_NICE="${PIPELINE_NICE:--10}"

pipeline_nice() { # the nice value a pipeline process may start with: negative ones only as root
  if ! [[ "$PIPELINE_NICE" =~ ^-?[0-9]+$ ]] || [ "$PIPELINE_NICE" -lt -20 ] || [ "$PIPELINE_NICE" -gt 19 ]; then
    printf '[priority] error: PIPELINE_NICE must be a whole number from -20 to 19, not "%s"\n' "$PIPELINE_NICE" >&2
    return 1
  fi
  if [ "$PIPELINE_NICE" -lt 0 ] && [ "$(id -u)" != 0 ]; then
    printf '[priority] PIPELINE_NICE=%s needs root; the pipeline runs at normal priority\n' "$PIPELINE_NICE" >&2
    echo 0
  else
    echo "$PIPELINE_NICE"
  fi
}

# `setsid sh -c "$IN_SESSION" sh <nice> <command...>`: the command in a session of its own whose autogroup, and the
# command itself, get that nice. With the kernel's autogroup scheduling (sched_autogroup_enabled=1) CPU is shared
# between sessions first and a process's own nice only counts within its session; every PostgreSQL backend is a
# session of its own. The autogroup is set from inside the new session, so it cannot land on the caller's.
# shellcheck disable=SC2016
IN_SESSION='n=$1; shift; [ "$n" = 0 ] || echo "$n" 2>/dev/null >/proc/self/autogroup; exec nice -n "$n" "$@"'

report_priority() { # report_priority <name> <pid>: the nice a process and its session run at
  local name=$1 pid=$2 group
  [ -n "$pid" ] || return 0
  group=$(sed -n 's/.* nice //p' "/proc/$pid/autogroup" 2>/dev/null || true)
  printf '[priority] %s (pid %s): nice %s%s\n' "$name" "$pid" "$(ps -o ni= -p "$pid" | tr -d ' ')" \
    "${group:+, session nice $group}" >&2
}
