#!/usr/bin/env bash
# The backend's capacity benchmark (issue 2): hashing, chat turns and health
# latency under a login storm, each measured side by side with its baseline
# in one run. BENCH_SECONDS sets the length of each phase (default 10).
# Uses DATABASE_URL when set, a throwaway Postgres otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p backend --bench capacity "$@"
