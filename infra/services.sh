#!/usr/bin/env bash
# Install, start, stop and inspect the three backing services on loopback, without Docker:
#   PostgreSQL and RabbitMQ from Debian's packages, Elasticsearch's integ-test distribution from Maven Central.
# Every action is idempotent. State (data, logs, pid files) lives under $STATE_DIR (default: <project>/.state).
# Processes are tracked and stopped by the pid they wrote, never by process name.
#
#   infra/services.sh install|start|stop|status [postgres|rabbitmq|elasticsearch]...
#
# Another instance of a service (a test's own, to kill and start again): another STATE_DIR and other ports
# (PG_PORT; RABBITMQ_PORT, RABBITMQ_DIST_PORT, RABBITMQ_NODENAME; ES_PORT, whose transport port is ES_PORT + 100),
# and smaller memory (PG_SHARED_BUFFERS, ES_HEAP). Elasticsearch is unpacked from the zip already downloaded into
# the local Maven repository, not fetched again.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/log"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  # apt-get update once per invocation, then install whatever is missing.
  if [ -z "${_APT_UPDATED:-}" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    _APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -f "$RUN_DIR/$1.pid" ] && tr -d '[:space:]' <"$RUN_DIR/$1.pid" || true; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for <seconds> <description> <command...>
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
  log "$what is up"
}

stop_pid() { # stop_pid <name> <pid> : SIGTERM, wait, then SIGKILL
  local name=$1 pid=$2
  if ! pid_alive "$pid"; then rm -f "$RUN_DIR/$name.pid"; return 0; fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do pid_alive "$pid" || break; sleep 0.5; done
  if pid_alive "$pid"; then log "$name did not stop in 60 s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$RUN_DIR/$name.pid"
}

ensure_user() { id -u "$1" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$1"; }

ensure_traversable() { # ensure_traversable <user> <dir>: services run as their own users and must reach $STATE_DIR
  local user=$1 dir=$2
  while [ "$dir" != "/" ]; do
    if ! runuser -u "$user" -- test -x "$dir" 2>/dev/null; then
      log "granting search (o+x) permission on $dir so that $user can reach $STATE_DIR"
      chmod o+x "$dir"
    fi
    dir=$(dirname "$dir")
  done
}

mkdir -p "$RUN_DIR" "$LOG_DIR"

# ---------------------------------------------------------------- PostgreSQL
PG_DIR="$STATE_DIR/postgres"
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
pg_psql() { runuser -u postgres -- "$(pg_bin)/psql" -h "$PG_DIR/socket" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

install_postgres() {
  [ -n "$(pg_bin)" ] || apt_install postgresql
  [ -n "$(pg_bin)" ] || die "PostgreSQL binaries not found after install"
  mkdir -p "$PG_DIR/socket"
  chown postgres:postgres "$PG_DIR" "$PG_DIR/socket"
  ensure_traversable postgres "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initdb $PG_DIR/data"
    runuser -u postgres -- "$(pg_bin)/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$LOG_DIR/postgres-initdb.log"
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
# --- set by infra/services.sh ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR/socket'
max_connections = 200
shared_buffers = $PG_SHARED_BUFFERS
synchronous_commit = on
wal_compression = on
max_wal_size = 4GB
EOF
  fi
}

start_postgres() {
  install_postgres
  local pid; pid=$(pid_of postgres)
  if pid_alive "$pid"; then log "postgres already running (pid $pid)"; else
    port_open "$PG_PORT" && die "port $PG_PORT is taken by another process; set PG_PORT"
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
    head -n 1 "$PG_DIR/data/postmaster.pid" >"$RUN_DIR/postgres.pid"
    log "postgres started (pid $(pid_of postgres), port $PG_PORT)"
  fi
  # The platform's role and database (idempotent).
  pg_psql -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN PASSWORD '$PG_PASSWORD' CREATEDB;
      END IF; END \$\$;"
  if [ "$(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]; then
    pg_psql -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE"
  fi
}

stop_postgres() { stop_pid postgres "$(pid_of postgres)"; }

# ---------------------------------------------------------------- RabbitMQ
RMQ_DIR="$STATE_DIR/rabbitmq"
RMQ_NODE="${RABBITMQ_NODENAME:-shop@localhost}"
EPMD_PORT="${EPMD_PORT:-4369}"
rmq_env() {
  env HOME="$RMQ_DIR" RABBITMQ_NODENAME="$RMQ_NODE" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RABBITMQ_PORT" RABBITMQ_DIST_PORT="$RABBITMQ_DIST_PORT" \
    ERL_EPMD_PORT="$EPMD_PORT" ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia" RABBITMQ_LOG_BASE="$LOG_DIR/rabbitmq" \
    RABBITMQ_PID_FILE="$RUN_DIR/rabbitmq.pid" RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins" RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config" \
    "$@"
}
rmqctl() { rmq_env /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RMQ_NODE" "$@"; }

install_rabbitmq() {
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_install rabbitmq-server
  mkdir -p "$RMQ_DIR" "$LOG_DIR/rabbitmq"
  cp "$INFRA_DIR/rabbitmq/rabbitmq.conf" "$RMQ_DIR/rabbitmq.conf"
  [ -f "$RMQ_DIR/enabled_plugins" ] || echo '[].' >"$RMQ_DIR/enabled_plugins"
  [ -f "$RMQ_DIR/advanced.config" ] || echo '[].' >"$RMQ_DIR/advanced.config"
}

start_rabbitmq() {
  install_rabbitmq
  local pid; pid=$(pid_of rabbitmq)
  if pid_alive "$pid"; then log "rabbitmq already running (pid $pid)"; return 0; fi
  port_open "$RABBITMQ_PORT" && die "port $RABBITMQ_PORT is taken by another process; set RABBITMQ_PORT"
  # Our own epmd on loopback, so that we know its pid and can stop it.
  if ! pid_alive "$(pid_of epmd)"; then
    if port_open "$EPMD_PORT"; then
      log "an epmd already listens on $EPMD_PORT; using it"
    else
      setsid epmd -port "$EPMD_PORT" -address 127.0.0.1 >>"$LOG_DIR/epmd.log" 2>&1 </dev/null &
      echo $! >"$RUN_DIR/epmd.pid"
      wait_for 10 epmd port_open "$EPMD_PORT" || die "epmd did not start"
    fi
  fi
  rm -f "$RUN_DIR/rabbitmq.pid"
  local nice; nice=$(pipeline_nice) || exit 1
  rmq_env setsid sh -c "$IN_SESSION" sh "$nice" /usr/lib/rabbitmq/bin/rabbitmq-server \
    >>"$LOG_DIR/rabbitmq-startup.log" 2>&1 </dev/null &
  wait_for 120 "rabbitmq pid file" test -s "$RUN_DIR/rabbitmq.pid" || die "rabbitmq did not start; see $LOG_DIR"
  report_priority rabbitmq "$(pid_of rabbitmq)"
  rmqctl wait --timeout 120 "$RUN_DIR/rabbitmq.pid" >/dev/null || die "rabbitmq did not boot; see $LOG_DIR"
  wait_for 60 "rabbitmq (port $RABBITMQ_PORT, pid $(pid_of rabbitmq))" port_open "$RABBITMQ_PORT" \
    || die "rabbitmq does not listen on $RABBITMQ_PORT"
}

stop_rabbitmq() {
  stop_pid rabbitmq "$(pid_of rabbitmq)"
  stop_pid epmd "$(pid_of epmd)"
}

# ---------------------------------------------------------------- Elasticsearch
ES_DIR="$STATE_DIR/elasticsearch"
ES_HOME="$ES_DIR/elasticsearch-$ES_VERSION"
es_java_home() {
  # Elasticsearch 8.19 runs on Java 17 (its minimum) and 21; the integ-test zip bundles no JDK.
  if [ -n "${ES_JAVA_HOME:-}" ]; then echo "$ES_JAVA_HOME"; return; fi
  local candidate
  for candidate in /usr/lib/jvm/java-21-openjdk-amd64 /usr/lib/jvm/temurin-21-jdk-amd64 /usr/lib/jvm/java-17-openjdk-amd64; do
    [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
  done
  die "no Java 17 or 21 found under /usr/lib/jvm; set ES_JAVA_HOME"
}

install_elasticsearch() {
  ensure_user "$ES_USER"
  if [ ! -x "$ES_HOME/bin/elasticsearch" ]; then
    local zip="$HOME/.m2/repository/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip"
    if [ ! -f "$zip" ]; then
      command -v mvn >/dev/null || apt_install maven
      log "fetching Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central"
      mvn -q -B dependency:get -Dtransitive=false \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" >&2
    fi
    command -v unzip >/dev/null || apt_install unzip
    mkdir -p "$ES_DIR"
    rm -rf "$ES_HOME.tmp" && mkdir -p "$ES_HOME.tmp"
    unzip -q "$zip" -d "$ES_HOME.tmp"
    mv "$ES_HOME.tmp/elasticsearch-$ES_VERSION" "$ES_HOME" && rmdir "$ES_HOME.tmp"
  fi
  [ -f /usr/share/hunspell/en_US.dic ] || apt_install hunspell-en-us
  mkdir -p "$ES_HOME/config/hunspell/en_US" "$ES_DIR/data" "$LOG_DIR/elasticsearch" "$ES_HOME/config/jvm.options.d"
  cp /usr/share/hunspell/en_US.aff /usr/share/hunspell/en_US.dic "$ES_HOME/config/hunspell/en_US/"
  cat >"$ES_HOME/config/elasticsearch.yml" <<EOF
# written by infra/services.sh
cluster.name: shop-dev
node.name: shop-dev-1
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $((ES_PORT + 100))
discovery.type: single-node
path.data: $ES_DIR/data
path.logs: $LOG_DIR/elasticsearch
# A development box may run low on disk; never flip indices to read-only because of it.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
# Indices are created explicitly from versioned mappings; a write to a missing index must fail, not create one.
action.auto_create_index: false
# Loopback development server: no TLS or users (the security module would otherwise auto-enable both).
xpack.security.enabled: false
EOF
  printf -- '-Xms%s\n-Xmx%s\n' "$ES_HEAP" "$ES_HEAP" >"$ES_HOME/config/jvm.options.d/heap.options"
  chown -R "$ES_USER" "$ES_DIR" "$LOG_DIR/elasticsearch"
  ensure_traversable "$ES_USER" "$ES_DIR"
}

start_elasticsearch() {
  install_elasticsearch
  local pid; pid=$(pid_of elasticsearch)
  if pid_alive "$pid"; then log "elasticsearch already running (pid $pid)"; return 0; fi
  port_open "$ES_PORT" && die "port $ES_PORT is taken by another process; set ES_PORT"
  rm -f "$ES_DIR/es.pid"
  local nice; nice=$(pipeline_nice) || exit 1
  # A session of its own, so that the scheduler weighs it apart from whoever started it (see IN_SESSION).
  setsid --wait sh -c "$IN_SESSION" sh "$nice" runuser -u "$ES_USER" -- env ES_JAVA_HOME="$(es_java_home)" \
    "$ES_HOME/bin/elasticsearch" -d -p "$ES_DIR/es.pid" \
    >>"$LOG_DIR/elasticsearch-startup.log" 2>&1 </dev/null || die "elasticsearch failed to start; see $LOG_DIR"
  wait_for 30 "elasticsearch pid file" test -s "$ES_DIR/es.pid" || die "elasticsearch wrote no pid; see $LOG_DIR"
  cp "$ES_DIR/es.pid" "$RUN_DIR/elasticsearch.pid"
  report_priority elasticsearch "$(pid_of elasticsearch)"
  wait_for 180 "elasticsearch (port $ES_PORT, pid $(pid_of elasticsearch))" \
    curl -fsS "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" \
    || die "elasticsearch did not answer; see $LOG_DIR/elasticsearch"
}

stop_elasticsearch() { stop_pid elasticsearch "$(pid_of elasticsearch)"; }

# ---------------------------------------------------------------- dispatch
status_one() {
  local name=$1 pid; pid=$(pid_of "$name")
  if pid_alive "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; return 1; fi
}

action=${1:-}
shift || true
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(postgres rabbitmq elasticsearch)
rc=0
for s in "${services[@]}"; do
  case "$s" in postgres|rabbitmq|elasticsearch) ;; *) die "unknown service '$s'";; esac
  case "$action" in
    install) "install_$s" ;;
    start) "start_$s" ;;
    stop) "stop_$s" ;;
    status) status_one "$s" || rc=1 ;;
    *) die "usage: $0 install|start|stop|status [postgres|rabbitmq|elasticsearch]..." ;;
  esac
done
exit $rc
