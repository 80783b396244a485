#!/usr/bin/env bash
# The README's test command: every test of the workspace, against a
# throwaway Postgres cluster from this machine's PostgreSQL install (or
# against DATABASE_URL when it is set). Extra arguments go to the runner,
# e.g. `scripts/test.sh -p backend` or `scripts/test.sh concurrency`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-postgres.sh
ensure_postgres

cargo build --quiet -p pgtemp
pgtemp="${CARGO_TARGET_DIR:-target}/debug/pgtemp"

if cargo nextest --version >/dev/null 2>&1; then
  runner=(cargo nextest run --workspace --no-fail-fast)
else
  echo "test.sh: cargo-nextest not found, using cargo test" >&2
  runner=(cargo test --workspace --no-fail-fast)
fi
exec "$pgtemp" -- "${runner[@]}" "$@"
