#!/usr/bin/env bash
# Runs the openai-SDK compatibility tests against mock-llm: builds the binary
# (or uses MOCK_LLM_BIN), serves it on a free loopback port, installs `openai`
# and `pytest` into chatbench's venv (scripts/lib/python-venv.sh) if missing,
# runs pytest, and always stops the server.
# Extra arguments go to pytest. Exits non-zero on any failure, including
# "no tests collected" (pytest's exit code 5).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if [[ -z "${MOCK_LLM_BIN:-}" ]]; then
    cargo build --quiet -p mock-llm
    MOCK_LLM_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/mock-llm"
fi
export MOCK_LLM_BIN

if ! python3 -c 'import openai, pytest' 2>/dev/null; then
    # A venv, not the system Python: Debian 12 / Ubuntu 24.04 refuse a
    # system-wide pip install (PEP 668).
    . scripts/lib/python-venv.sh
    ensure_python_venv openai pytest
fi

log="$(mktemp)"
# Port 0: the kernel picks a free port and the server logs it, so there is no
# race between choosing a port and binding it.
NO_COLOR=1 RUST_LOG=info "$MOCK_LLM_BIN" --bind 127.0.0.1:0 \
    --ttft-ms 20 --itl-ms 2 --tokens 16 --seed 7 >"$log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

addr=""
for _ in $(seq 100); do
    addr="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE 'addr=127\.0\.0\.1:[0-9]+' | head -n1 | cut -d= -f2 || true)"
    [[ -n "$addr" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "mock-llm exited during start-up:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$addr" ]]; then
    echo "mock-llm did not report its address within 10 s:" >&2
    cat "$log" >&2
    exit 1
fi

rc=0
MOCK_LLM_URL="http://$addr" python3 -m pytest -q -p no:cacheprovider \
    tests/python/test_openai_sdk.py "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "run.sh: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
