#!/usr/bin/env bash
# The README's quick start, exactly: `scripts/serve` runs the server on the dev defaults
# (127.0.0.1:7880), then the browser tests meet through it in headless Chromium.
# Run inside the test network namespace (scripts/netns-run), where port 7880 is free.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
log="$(mktemp -t huiyi-serve-XXXX.log)"
scripts/serve >"$log" 2>&1 &
serve_pid=$!
stop() {
  kill -TERM "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
}
trap stop EXIT
# Bounded: scripts/serve may still be building.
for _ in $(seq 1 600); do
  if curl -fsS http://127.0.0.1:7880/healthz >/dev/null 2>&1; then break; fi
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "scripts/serve exited early; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 1
done
curl -fsS http://127.0.0.1:7880/healthz >/dev/null || { echo "server not up after 600 s" >&2; cat "$log" >&2; exit 1; }
grep -q "open http://127.0.0.1:7880/" "$log" || { echo "scripts/serve did not print the join URL" >&2; cat "$log" >&2; exit 1; }
# The meeting suite (two browsers join through the form, see and hear each other, share a screen,
# a scheduled meeting's link, a WHIP broadcast): the quick start's promise. The browser stage
# already runs every suite against a test-owned server; running them all again here only doubled
# the CI time.
HUIYI_URL=http://127.0.0.1:7880 node --test tests/browser/meeting.test.mjs
