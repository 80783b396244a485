#!/usr/bin/env bash
# schemathesis against the live backend: the OpenAPI document it serves
# (/api/openapi.json, generated from the code by utoipa) is the test plan.
#
#   tests/schemathesis/run.sh          bounded, as CI runs it: 15 examples per
#                                      operation (SCHEMATHESIS_MAX_EXAMPLES),
#                                      fuzzing + stateful within 100 s
#                                      (SCHEMATHESIS_MAX_TIME), seed 1
#                                      (SCHEMATHESIS_SEED)
#   tests/schemathesis/run.sh --long   200 examples per operation, 30 min
#   tests/schemathesis/run.sh -- ARGS  extra arguments for `schemathesis run`
#
# Self-sufficient: installs schemathesis and openapi-spec-validator into
# chatbench's venv (scripts/lib/python-venv.sh), builds the debug backend and
# pgtemp, starts a throwaway Postgres (or uses DATABASE_URL) and the backend
# on a free loopback port (test mode, mock LLM and retriever), checks the
# served document against the OpenAPI 3.1 meta-schema, registers a user and
# takes a bearer token, then runs every phase (examples, coverage, fuzzing,
# stateful) with every check. Exits non-zero on any failure or error; stops
# everything it started; traffic stays on 127.0.0.1; the whole run is
# bounded by SCHEMATHESIS_TIMEOUT (20 min; 45 with --long). Reports (JUnit,
# NDJSON) and the document go to results/schemathesis-<time>/.
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
      -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "schemathesis/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  . scripts/lib/ensure-postgres.sh
  ensure_postgres
  . scripts/lib/python-venv.sh
  ensure_python_venv schemathesis openapi-spec-validator
  cargo build --quiet -p backend -p pgtemp
  # A private copy of what was just built: with a target directory shared
  # between checkouts, another build may replace target/debug/backend
  # while this run goes on.
  bin="$(mktemp -d "${TMPDIR:-/tmp}/chatbench-schemathesis.XXXXXX")"
  cp "${CARGO_TARGET_DIR:-target}/debug/backend" "${CARGO_TARGET_DIR:-target}/debug/pgtemp" "$bin/"
  trap 'rm -rf "$bin"' EXIT
  if [ "$long" = 1 ]; then
    export SCHEMATHESIS_MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-200}"
    export SCHEMATHESIS_MAX_TIME="${SCHEMATHESIS_MAX_TIME:-1800}"
    export SCHEMATHESIS_TIMEOUT="${SCHEMATHESIS_TIMEOUT:-2700}"
  fi
  export CHATBENCH_ST_INNER=1 CHATBENCH_BIN="$bin"
  # pgtemp runs this script again inside, with DATABASE_URL set.
  code=0
  timeout --signal=TERM --kill-after=30 "${SCHEMATHESIS_TIMEOUT:-1200}" \
    "$bin/pgtemp" --db chatbench_schemathesis -- "$0" "${extra[@]}" || code=$?
  exit "$code"
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

# The document itself first: valid OpenAPI 3.1 (the OAS 3.1 meta-schema,
# by openapi-spec-validator), kept with the report.
python3 -c "import urllib.request; print(urllib.request.urlopen('$base/api/openapi.json', timeout=10).read().decode())" \
  >"$out/openapi.json"
openapi-spec-validator --schema 3.1 "$out/openapi.json"

# One user of our own, registered through the API; its bearer token goes on
# every request (schemathesis' ignored_auth check drops it to see the 401).
token="$(python3 - "$base" <<'PY'
import json, sys, urllib.error, urllib.parse, urllib.request
base = sys.argv[1]
def post(path, data, ctype):
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
user = {"username": "schemathesis_user", "password": "schemathesis-pass-1"}
try:
    post("/api/auth/register", json.dumps(user).encode(), "application/json")
except urllib.error.HTTPError as e:
    if e.code != 400:  # 400: already registered (a reused DATABASE_URL)
        raise
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
