#!/usr/bin/env bash
# schemathesis against the live backend: the OpenAPI document it serves
# (/api/openapi.json, generated from the code by utoipa) is the test plan.
#
#   tests/schemathesis/run.sh            bounded (CI): SCHEMATHESIS_MAX_EXAMPLES
#                                        (default 15) cases per operation and phase
#   tests/schemathesis/run.sh --long     a longer search (200 per operation)
#   tests/schemathesis/run.sh -- ARGS    extra arguments for `schemathesis run`
#
# Self-sufficient: installs schemathesis into chatbench's venv
# (scripts/lib/python-venv.sh), builds the debug backend and pgtemp, starts a
# throwaway Postgres (or uses DATABASE_URL), the backend on a free loopback
# port in test mode with the mock LLM and retriever, registers a user and
# logs in for a bearer token, then runs every phase (examples, coverage,
# fuzzing, stateful) with every check. Exits non-zero on any failure or
# error; everything it started is stopped on exit. Traffic stays on
# 127.0.0.1. The report (JUnit XML, NDJSON) goes to
# results/schemathesis-<time>/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if [ -z "${CHATBENCH_ST_INNER:-}" ]; then
  long=0
  extra=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --long) long=1 ;;
      --) shift; extra=("$@"); break ;;
      -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "schemathesis/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  . scripts/lib/ensure-postgres.sh
  ensure_postgres
  . scripts/lib/python-venv.sh
  ensure_python_venv schemathesis
  cargo build --quiet -p backend -p pgtemp
  bin="${CARGO_TARGET_DIR:-target}/debug"
  if [ "$long" = 1 ]; then
    export SCHEMATHESIS_MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-200}"
    export SCHEMATHESIS_MAX_TIME="${SCHEMATHESIS_MAX_TIME:-1800}"
  fi
  export CHATBENCH_ST_INNER=1 CHATBENCH_BIN="$bin"
  # pgtemp runs this script again inside, with DATABASE_URL set.
  exec timeout --signal=TERM --kill-after=30 "${SCHEMATHESIS_TIMEOUT:-1200}" \
    "$bin/pgtemp" --db chatbench_schemathesis -- "$0" "${extra[@]}"
fi

bin="${CHATBENCH_BIN:?}"
out="results/schemathesis-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

backend_pid=
stop_backend() {
  if [ -n "$backend_pid" ] && kill -0 "$backend_pid" 2>/dev/null; then
    kill -TERM "$backend_pid" 2>/dev/null || true
    wait "$backend_pid" 2>/dev/null || true
  fi
}
trap stop_backend EXIT
trap 'exit 130' INT TERM

# Test mode (rate limits off), the mock LLM with a short schedule so a
# streamed turn takes milliseconds, the mock retriever so turns cite sources.
APP_ENV=test BIND_ADDR="127.0.0.1:$port" LLM_PROVIDER=mock RETRIEVER_PROVIDER=mock \
  MOCK_LLM_TTFT_MS=5 MOCK_LLM_ITL_MS=1 MOCK_LLM_TOKENS=8 \
  RUST_LOG="${RUST_LOG:-warn}" "$bin/backend" >"$out/backend.log" 2>&1 &
backend_pid=$!

for _ in $(seq 600); do
  kill -0 "$backend_pid" 2>/dev/null || { echo "schemathesis: the backend exited:" >&2; tail -n 20 "$out/backend.log" >&2; exit 1; }
  python3 -c "import urllib.request; urllib.request.urlopen('$base/api/health', timeout=1)" 2>/dev/null && break
  sleep 0.1
done

# One user of our own, registered through the API; its bearer token goes on
# every request (schemathesis' ignored_auth check drops it to see the 401).
token="$(python3 - "$base" <<'PY'
import json, sys, urllib.parse, urllib.request
base = sys.argv[1]
def post(path, data, ctype):
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
user = {"username": "schemathesis_user", "password": "schemathesis-pass-1"}
post("/api/auth/register", json.dumps(user).encode(), "application/json")
tok = post("/api/auth/token", urllib.parse.urlencode(user).encode(), "application/x-www-form-urlencoded")
print(tok["access_token"])
PY
)"

n="${SCHEMATHESIS_MAX_EXAMPLES:-15}"
echo "schemathesis: $base/api/openapi.json, $n examples per operation, report in $out" >&2
code=0
schemathesis --config-file tests/schemathesis/schemathesis.toml run "$base/api/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$n" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-100}" \
  --request-timeout 20 \
  --workers 2 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --header "Authorization: Bearer $token" \
  --report junit,ndjson --report-dir "$out" \
  --suppress-health-check too_slow \
  "$@" || code=$?
echo "schemathesis: exit $code (report in $out)" >&2
exit "$code"
