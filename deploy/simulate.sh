#!/usr/bin/env bash
# The body of deploy/check.sh's step 4, run by pgtemp with DATABASE_URL set:
# what the loadgen Indexed Job and the merge Job do in a cluster, here.
# The containers' commands and env come from the rendered manifest
# (CHATBENCH_SIM/job.sh, job.env, merge.sh, merge.env); only what differs
# on this machine is set over them: the backend's URL, the results
# directory, a shorter LOAD_SHAPE (SIM_LOAD_SHAPE), a START_AT a few
# seconds ahead, no hold after the merge, and PATH to the built binaries.
set -euo pipefail
bin="${CHATBENCH_BIN:?run deploy/check.sh}"
sim="${CHATBENCH_SIM:?run deploy/check.sh}"
bin="$(cd "$bin" && pwd)"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
APP_ENV=test BIND_ADDR="127.0.0.1:$port" LLM_PROVIDER=mock RETRIEVER_PROVIDER=mock \
  RUST_LOG=warn "$bin/backend" >"$sim/backend.log" 2>&1 &
backend_pid=$!
trap 'kill -TERM "$backend_pid" 2>/dev/null; wait "$backend_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  python3 -c "import urllib.request; urllib.request.urlopen('$base/api/health', timeout=1)" 2>/dev/null && break
  kill -0 "$backend_pid" 2>/dev/null || { tail -n 20 "$sim/backend.log" >&2; exit 1; }
  sleep 0.1
done
"$bin/seed" --users-file load-tests/users.json --database-url "$DATABASE_URL" >/dev/null

results="$sim/results"
rm -rf "$results"
# shellcheck disable=SC1091
. "$sim/job.env"
shards="$SHARDS"
start_at="$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)"
echo "check: $shards shards of '${SIM_LOAD_SHAPE:=--vus 8 --duration 10s}' (the Job's command; manifest shape '$LOAD_SHAPE'), starting together at $start_at"
pids=()
for i in $(seq 0 $((shards - 1))); do
  (
    . "$sim/job.env"
    export JOB_COMPLETION_INDEX="$i" BASE_URL="$base" RESULTS_DIR="$results" \
      RUN_ID=sim START_AT="$start_at" LOAD_SHAPE="$SIM_LOAD_SHAPE" PATH="$bin:$PATH"
    exec sh -c "$(cat "$sim/job.sh")"
  ) >"$sim/shard-$i.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "check: shard $i exited $?; its log:" >&2; tail -n 20 "$sim/shard-$i.log" >&2; failed=1; }
done
[ "$failed" = 0 ] || exit 1

set +e
(
  . "$sim/merge.env"
  export RESULTS_DIR="$results" RUN_ID=sim HOLD_SECONDS=0 WAIT_SECONDS=60 PATH="$bin:$PATH"
  exec sh -c "$(cat "$sim/merge.sh")"
) >"$sim/merge.log" 2>&1
code=$?
set -e
merged="$results/sim/merged"
if [ "$code" != 0 ] || [ ! -s "$merged/report.html" ]; then
  echo "check: the merge Job's command exited $code; its log:" >&2
  tail -n 40 "$sim/merge.log" >&2
  exit 1
fi
python3 - "$results/sim" "$shards" <<'PY'
import glob, json, sys
d, n = sys.argv[1], int(sys.argv[2])
shards = [json.load(open(f)) for f in sorted(glob.glob(f"{d}/shard-*/summary.json"))]
m = json.load(open(f"{d}/merged/summary.json"))
assert len(shards) == n, len(shards)
idx = sorted(s["segment"]["index"] for s in shards)
assert idx == list(range(1, n + 1)), idx
assert m["segment"]["segment"] == "0:1" and m["segment"]["count"] == n, m["segment"]
counts = [s["http_reqs"]["count"] for s in shards]
assert m["http_reqs"]["count"] == sum(counts) > 0, (m["http_reqs"], counts)
assert m["vus"]["max_planned"] == sum(s["vus"]["max_planned"] for s in shards)
assert m["exit_code"] == 0, m["thresholds"]
print(f"check: merged {n} shards: {m['http_reqs']['count']} requests ({'+'.join(map(str, counts))}), "
      f"{m['vus']['max_planned']} VUs, p95 {m['http_req_duration_us']['p95'] / 1000:.1f} ms, "
      f"{len(m['thresholds'])} thresholds held; summary.json + report.html in RUN_ID/merged")
PY
