#!/usr/bin/env bash
# Run CI (.ci/run) on fresh clones of a commit, N times in a row, each beside a CPU hog that
# keeps one core busy; print one line per run and keep each run's log and load samples.
#   tools/ci_beside_hog.sh [COMMIT] [RUNS] [OUT]      (defaults: HEAD, 3, a new temp folder)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$repo" rev-parse --short "${1:-HEAD}")
runs=${2:-3}
out=${3:-$(mktemp -d -t kom-ci-hog-XXXX)}
for i in $(seq 1 "$runs"); do
  d="$out/run$i"; mkdir -p "$d"
  git clone -q "$repo" "$d/repo" && git -C "$d/repo" checkout -q "$commit"
  python3 -c 'while 1: pass' & hog=$!
  ( while true; do echo "$(date +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 30; done ) > "$d/load.log" & sampler=$!
  start=$(date +%s)
  ( cd "$d/repo" && env -u PYTHONPATH CI=true bash .ci/run ) > "$d/ci.log" 2>&1
  rc=$?
  kill "$hog" "$sampler"; wait "$hog" "$sampler" 2>/dev/null
  echo "run $i commit $commit exit $rc in $(( $(date +%s) - start )) s; log $d/ci.log"
done
