#!/usr/bin/env bash
# Create the project's virtualenv (.venv) and install the pinned dependencies; a no-op when the locks are unchanged.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PROJECT_DIR"
VENV="$PROJECT_DIR/.venv"
PYTHON_BIN="${PYTHON_BIN:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null || PYTHON_BIN=python3
stamp=$(cat requirements.lock requirements-dev.lock | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.locks" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
echo "[python] installing pinned dependencies into $VENV" >&2
[ -x "$VENV/bin/python" ] || "$PYTHON_BIN" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.lock
echo "$stamp" >"$VENV/.locks"
