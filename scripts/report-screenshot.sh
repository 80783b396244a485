#!/usr/bin/env bash
# A PNG of a loadgen HTML report, taken by Debian's headless Chromium with
# the network off (as loadgen/tests/browser/report.rs opens it):
#
#   scripts/report-screenshot.sh results/<run>/report.html docs/report.png [WIDTH [HEIGHT]]
#
# docs/report.png (the README's screenshot) is made this way from the
# report.html of a `scripts/bench` smoke run.
set -euo pipefail
page="${1:?usage: report-screenshot.sh REPORT.html OUT.png [WIDTH [HEIGHT]]}"
png="${2:?usage: report-screenshot.sh REPORT.html OUT.png [WIDTH [HEIGHT]]}"
width="${3:-1280}"
height="${4:-2000}"
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "report-screenshot: no chromium (apt-get install chromium)" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage \
  --hide-scrollbars --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
  --user-data-dir="$profile" --virtual-time-budget=5000 \
  --window-size="$width,$height" --screenshot="$(realpath -m "$png")" \
  "file://$(realpath "$page")" 2>/dev/null
echo "report-screenshot: wrote $png" >&2
