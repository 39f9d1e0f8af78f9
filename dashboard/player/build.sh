#!/usr/bin/env bash
# Rebuild the player bundle (frontend/dist/player.js) from the lockfile. CI runs this and fails when it no longer
# builds; commit the rebuilt dist/ with any change to frontend/src or the dependencies.
set -euo pipefail
cd "$(dirname "$0")/frontend"
npm ci --no-audit --no-fund
npm run build
test -s dist/player.js || { echo "build.sh: dist/player.js was not produced" >&2; exit 1; }
