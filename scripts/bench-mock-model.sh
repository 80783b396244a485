#!/usr/bin/env bash
# The saturating mock model measured end to end (issue 13): loadgen
# streaming against the backend (LLM_PROVIDER=openai) pointed at
# `mock-llm --profile 8b-h100`, on a throwaway Postgres.
#
#   scripts/bench-mock-model.sh            VUs 1,4,16,64, 20 s a step, then
#                                          CHAT_HISTORY_MAX_MESSAGES 4 vs 40
#   BENCH_STEP_SECONDS=10 BENCH_VUS="1 8 64" BENCH_PROFILE=70b-h100-tp8 ...
#   MOCK_LLM_MAX_WAITING=8 BENCH_VUS=64 BENCH_HISTORY=0 ...   a queue that
#       overflows: 429s from the model (MOCK_LLM_* override the profile in
#       mock-llm; the predictions use the profile's own values)
#
# Part 1 steps the VUs (closed model, no think time, login once per VU, 3
# turns a session) and prints TTFT p50 and ITL p50 as loadgen measured them
# beside the model's prediction: ITL = ITL_1 x (1 + (f - 1)(n - 1)/(N - 1))
# with n = min(VUs, N); TTFT = overhead + prompt tokens x prefill, plus, past
# the batch, the queue wait of a closed loop (Little's law: VUs/N - 1
# service times). Part 2 runs long conversations (12 turns a session, 4 VUs)
# with the history cut at 4 and at 40 messages: more history, more prompt
# tokens, a longer prefill. Prompt tokens per request are read from
# mock-llm's /stats. Bounded: about (steps + 2) x (step + 10) s. Debug
# builds (the shared target dir), copied aside so a rebuild cannot swap them.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${BENCH_MOCK_BIN:-}" ]; then
  . scripts/lib/ensure-postgres.sh
  ensure_postgres
  echo "bench-mock-model: building (debug)" >&2
  cargo build --quiet -p backend -p mock-llm -p loadgen -p seed -p pgtemp
  target="${CARGO_TARGET_DIR:-target}"
  bin="$(mktemp -d /tmp/bench-mock-model.XXXXXX)"
  for b in backend mock-llm loadgen seed pgtemp; do cp "$target/debug/$b" "$bin/"; done
  export BENCH_MOCK_BIN="$bin"
  if [ -n "${DATABASE_URL:-}" ]; then exec "$0" "$@"; fi
  exec "$bin/pgtemp" -- "$0" "$@"
fi

bin="$BENCH_MOCK_BIN"
profile="${BENCH_PROFILE:-8b-h100}"
step="${BENCH_STEP_SECONDS:-20}"
vus_steps="${BENCH_VUS:-1 4 16 64}"
out="results/$(date -u +%Y%m%dT%H%M%SZ)-mock-model"
mkdir -p "$out"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mport="$(free_port)"
bport="$(free_port)"
mock="http://127.0.0.1:$mport"
base="http://127.0.0.1:$bport"

pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$bin"' EXIT
trap 'echo "bench-mock-model: interrupted" >&2; exit 130' INT TERM

wait_http() { # url, what, log
  local i
  for i in $(seq 1 300); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench-mock-model: $2 did not answer $1; the end of $3:" >&2
  tail -n 20 "$3" >&2
  exit 1
}

# One value of the profile (the variable's value as --list-profiles prints it).
profile_value() {
  "$bin/mock-llm" --list-profiles | awk -v p="$profile" -v k="$1" '
    $1 == p { found = 1; next }
    found && /^[^ ]/ { exit }
    found { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }'
}
ttft_ms="$(profile_value MOCK_LLM_TTFT_MS)"
prefill_us="$(profile_value MOCK_LLM_PREFILL_US_PER_TOKEN)"
itl_ms="$(profile_value MOCK_LLM_ITL_MS)"
tokens="$(profile_value MOCK_LLM_TOKENS)"
max_seqs="$(profile_value MOCK_LLM_MAX_NUM_SEQS)"
factor="$(profile_value MOCK_LLM_LOAD_FACTOR)"
if [ -z "$max_seqs" ] || [ -z "$factor" ] || [ -z "$prefill_us" ]; then
  echo "bench-mock-model: profile $profile has no batch limit, load factor or prefill to measure" >&2
  exit 2
fi

start_mock() {
  RUST_LOG=warn "$bin/mock-llm" --profile "$profile" --bind "127.0.0.1:$mport" \
    >"$out/mock-llm.log" 2>&1 &
  pids+=($!)
  wait_http "$mock/health" mock-llm "$out/mock-llm.log"
}

start_backend() { # history cap
  APP_ENV=test BIND_ADDR="127.0.0.1:$bport" LLM_PROVIDER=openai \
    OPENAI_BASE_URL="$mock/v1" OPENAI_API_KEY=mock OPENAI_MODEL=mock-llm \
    RETRIEVER_PROVIDER=mock CHAT_HISTORY_MAX_MESSAGES="$1" RUST_LOG=warn \
    "$bin/backend" >>"$out/backend.log" 2>&1 &
  pids+=($!)
  wait_http "$base/api/health" backend "$out/backend.log"
}

# mock-llm's counters: "chat_completions prompt_tokens queue_full".
mock_counts() {
  python3 -c "
import json, urllib.request
s = json.load(urllib.request.urlopen('$mock/stats', timeout=5))
print(s['chat_completions'], s['tokens']['prompt'], s['rate_limited']['queue_full'])"
}

# One loadgen run; prints "ttft_p50_ms itl_p50_ms prompt_tokens_mean queue_full streams".
run_step() { # name vus turns
  local before after dir="$out/$1"
  before="$(mock_counts)"
  "$bin/loadgen" run --base-url "$base" --stream --vus "$2" --duration "${step}s" \
    --think 0s --login once --turns "$3" --latency-profile live --seed 13 \
    --scrape "$mock/metrics" --out "$dir" >"$dir.log" 2>&1 || true
  after="$(mock_counts)"
  python3 - "$dir/summary.json" "$before" "$after" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
st = s.get("streaming") or {}
b = [int(x) for x in sys.argv[2].split()]
a = [int(x) for x in sys.argv[3].split()]
n = max(a[0] - b[0], 1)
ttft = (st.get("ttft_us") or {}).get("med")
itl = (st.get("itl_us") or {}).get("med")
f = lambda v: "-" if v is None else f"{v / 1000:.1f}"
print(f(ttft), f(itl), f"{(a[1] - b[1]) / n:.0f}", a[2] - b[2], st.get("streams", 0))
EOF
}

predict() { # vus prompt_tokens -> "ttft_ms itl_ms"
  python3 - "$@" "$ttft_ms" "$prefill_us" "$itl_ms" "$tokens" "$max_seqs" "$factor" <<'EOF'
import sys
vus, prompt, ttft, prefill_us, itl, tokens, n_max, f = map(float, sys.argv[1:])
n = min(vus, n_max)
itl_n = itl * (1 + (f - 1) * (n - 1) / (n_max - 1)) if n_max > 1 else itl
first = ttft + prompt * prefill_us / 1000
service = first + (tokens - 1) * itl_n
# A closed loop of vus users on n_max slots: each waits vus/n_max - 1
# service times in the queue (Little's law), nothing below the batch.
wait = max(vus / n_max - 1, 0) * service
print(f"{first + wait:.1f} {itl_n:.1f}")
EOF
}

start_mock
start_backend 40
echo "bench-mock-model: seeding users" >&2
"$bin/seed" --users-file load-tests/users.json --database-url "$DATABASE_URL" >"$out/seed.log" 2>&1

echo "bench-mock-model: profile $profile (TTFT ${ttft_ms} ms + ${prefill_us} us/prompt token, ITL ${itl_ms} ms, batch ${max_seqs}, x${factor} at full batch), ${step} s a step; results in $out" >&2
printf '\n## VUs stepped (profile %s, 3 turns a session, no think time)\n\n' "$profile"
printf '| VUs | prompt tokens | TTFT p50 measured | TTFT predicted | ITL p50 measured | ITL predicted | 429 queue full | streams |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for v in $vus_steps; do
  read -r ttft itl prompt q n <<<"$(run_step "vus-$v" "$v" 3)"
  read -r pttft pitl <<<"$(predict "$v" "$prompt")"
  printf '| %s | %s | %s ms | %s ms | %s ms | %s ms | %s | %s |\n' "$v" "$prompt" "$ttft" "$pttft" "$itl" "$pitl" "$q" "$n"
done

if [ "${BENCH_HISTORY:-1}" = 0 ]; then exit 0; fi
printf '\n## CHAT_HISTORY_MAX_MESSAGES on long conversations (4 VUs, 12 turns a session)\n\n'
printf '| history cap | prompt tokens | TTFT p50 measured | TTFT predicted | ITL p50 measured |\n'
printf '|---:|---:|---:|---:|---:|\n'
for cap in 4 40; do
  stop_all
  start_mock
  start_backend "$cap"
  read -r ttft itl prompt q n <<<"$(run_step "history-$cap" 4 12)"
  read -r pttft pitl <<<"$(predict 4 "$prompt")"
  printf '| %s | %s | %s ms | %s ms | %s ms |\n' "$cap" "$prompt" "$ttft" "$pttft" "$itl"
done
echo >&2
echo "bench-mock-model: loadgen's summaries and logs in $out" >&2
