# Sourced by scripts/bench, scripts/test.sh and .ci/run: makes sure this
# machine has PostgreSQL server binaries (for the throwaway cluster) and a
# `postgres` user to run them as when we are root. Installs them with apt when
# it can; otherwise says what to install. Nothing to do with DATABASE_URL set.
ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then return 0; fi
  if [ -n "${PG_BIN:-}" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    :
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "chatbench: installing PostgreSQL (apt-get install postgresql)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  else
    echo "chatbench: PostgreSQL server binaries not found: install postgresql" \
         "(e.g. apt-get install postgresql), set PG_BIN, or set DATABASE_URL" >&2
    return 1
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    # Postgres refuses to run as root; the throwaway cluster runs as this user.
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  fi
}
