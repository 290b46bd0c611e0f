#!/usr/bin/env bash
# Install the browser assets the APIs serve themselves (Swagger UI for /docs, so that it works without internet
# access) from the npm registry, exactly as package-lock.json pins them, into node_modules/. No install scripts run
# (.npmrc: ignore-scripts). A no-op when the lock is unchanged since the last install.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PROJECT_DIR"
stamp=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.lock-sha256 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "[web_assets] apt-get install npm" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
echo "[web_assets] npm ci (Swagger UI for /docs)" >&2
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$stamp" >node_modules/.lock-sha256
