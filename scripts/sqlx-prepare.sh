#!/usr/bin/env bash
# Refreshes `.sqlx/`, the offline data the SQL macros (`sqlx::query!` and
# friends) are checked against, after a statement or a migration changed:
# applies migrations/ to a throwaway Postgres cluster (or to DATABASE_URL when
# it is set) and runs `cargo sqlx prepare --workspace` against it. Commit the
# result. With `--check` it changes nothing and fails when `.sqlx/` is stale
# (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/ensure-postgres.sh
ensure_postgres

if ! command -v cargo-sqlx >/dev/null 2>&1; then
  echo "sqlx-prepare: installing sqlx-cli" >&2
  # Pinned: the version whose `prepare` and `prepare --check` were verified
  # against this workspace's sqlx 0.8 macros.
  cargo install sqlx-cli --version 0.9.0 --no-default-features --features postgres,rustls --locked
fi

check=()
case "${1:-}" in
  --check) check=(--check) ;;
  "") ;;
  *) echo "usage: scripts/sqlx-prepare.sh [--check]" >&2; exit 2 ;;
esac

pgtemp="${CARGO_TARGET_DIR:-target}/debug/pgtemp"
# pgtemp is its own crate, with no SQL macros: it builds even while `.sqlx/`
# is stale.
cargo build --quiet -p pgtemp
exec "$pgtemp" -- bash -c \
  'sqlx migrate run --source migrations && cargo sqlx prepare --workspace "$@"' \
  sqlx-prepare "${check[@]}"
