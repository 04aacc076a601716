#!/usr/bin/env bash
# Schemathesis against a running server: every operation of /v1/openapi.json is called with
# generated (valid and invalid) input, and the run fails on any 5xx or any response that
# does not match the document. Called by scripts/test (stage `openapi`).
#
# Usage: tests/schemathesis/run.sh   (needs $HUIYI_BIN and schemathesis in $HUIYI_VENV)
#
# Authenticated as a portal user (session cookie plus the CSRF header), signed up first; the
# generator is told not to invent its own credentials, which would only ever get a 401.
# Excluded: POST /v1/webhooks, whose URL check would send requests to whatever hosts the
# generator invents (tests stay on loopback; it is tested in crates/server/tests/webhooks.rs),
# and POST /api/auth/signout, which would end the session the run depends on.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${HUIYI_BIN:?set HUIYI_BIN to the huiyi binary}"
VENV="${HUIYI_VENV:-$HOME/.cache/huiyi-venv}"
DATA="$(mktemp -d)"
LOG="$DATA/server.log"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

"$BIN" serve --dev --bind 127.0.0.1 --port "$PORT" --rtc-udp-port 0 --rtc-tcp-port 0 \
  --data-dir "$DATA" --web-dir "$DATA/no-web" >"$LOG" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -sf "$BASE/healthz" >/dev/null && break
  sleep 0.1
done

COOKIE="$(curl -sf -D - -o /dev/null -X POST "$BASE/api/auth/signup" -H 'content-type: application/json' \
  -d '{"email":"fuzz@example.com","password":"fuzz password","username":"Fuzz","enterprise_name":"Fuzz Inc"}' |
  tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(huiyi_session=[^;]*\).*/\1/p')"
[ -n "$COOKIE" ] || { echo "error: sign-up gave no session cookie" >&2; exit 1; }

MEETING="$(curl -sf -X POST "$BASE/v1/meetings" -H "Cookie: $COOKIE" -H 'X-Huiyi-Csrf: 1' \
  -d '{"subject":"Fuzzed","type":1,"password":"1234"}')"
export HUIYI_FUZZ_MEETING_ID
HUIYI_FUZZ_MEETING_ID="$(printf '%s' "$MEETING" | python3 -c 'import json,sys; print(json.load(sys.stdin)["meeting_info_list"][0]["meeting_id"])')"

status=0
"$VENV/bin/schemathesis" --config-file "$REPO/tests/schemathesis/schemathesis.toml" run "$BASE/v1/openapi.json" \
  --url "$BASE" \
  -H "Cookie: $COOKIE" -H "X-Huiyi-Csrf: 1" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-40}" \
  --exclude-operation-id post_v1_webhooks \
  --exclude-operation-id post_api_auth_signout \
  --generation-with-security-parameters false --generation-database none \
  --workers 2 --request-timeout 10 --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (tail) ---"
  tail -50 "$LOG"
fi
grep -q "panicked" "$LOG" && { echo "error: the server panicked"; exit 1; }
exit "$status"
