#!/usr/bin/env bash
# Without a network, the npm step of scripts/serve must either need nothing (node_modules matches
# the lockfile) or fail fast with a clear message; it once hung there silently.
#
# Each case runs in a fresh network namespace made by scripts/netns-run (no registry, DNS
# queries go nowhere: the README stage's conditions), on a throwaway copy of web/'s package
# files in a temp dir, so the real web/node_modules and the work tree are never touched.
# A stub `cargo` first on PATH makes sure no build can start.
#
# Usage: tests/npm-offline.sh   (the web stage of scripts/test runs it)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Seconds within which an offline failure must come. The registry check is bounded to 30 s.
LIMIT="${HUIYI_NPM_OFFLINE_LIMIT:-60}"

tmp="$(mktemp -d -t huiyi-npm-offline-XXXX)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/repo/scripts" "$tmp/repo/web" "$tmp/bin" "$tmp/npm-cache"
cp "$REPO/scripts/serve" "$REPO/scripts/npm-ci" "$tmp/repo/scripts/"
cp "$REPO/web/package.json" "$REPO/web/package-lock.json" "$tmp/repo/web/"
cat >"$tmp/bin/cargo" <<'EOF'
#!/bin/sh
echo "cargo stub: reached cargo $*" >&2
exit 97
EOF
chmod +x "$tmp/bin/cargo"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Runs "$@" in a fresh namespace with the stub cargo and a throwaway npm cache; sets rc, took, out.
offline() {
  local start=$SECONDS
  set +e
  out="$(env -u HUIYI_IN_NETNS PATH="$tmp/bin:$PATH" npm_config_cache="$tmp/npm-cache" \
    timeout --kill-after=10 $((LIMIT * 3)) "$REPO/scripts/netns-run" "$@" 2>&1)"
  rc=$?
  set -e
  took=$((SECONDS - start))
}

# 1. scripts/serve with no node_modules: exits non-zero, fast, naming the registry.
offline "$tmp/repo/scripts/serve"
if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
  fail "scripts/serve without node_modules, offline: exit $rc after ${took}s (want a quick failure)"
elif [ "$took" -gt "$LIMIT" ]; then
  fail "scripts/serve without node_modules, offline: took ${took}s to fail (limit ${LIMIT}s)"
elif ! grep -q "cannot reach .* to install web's npm packages" <<<"$out"; then
  fail "scripts/serve without node_modules, offline: no clear message"
elif grep -q "cargo stub" <<<"$out"; then
  fail "scripts/serve went on to cargo after the npm step failed"
else
  echo "ok: scripts/serve without node_modules fails offline in ${took}s, exit $rc"
fi
[ ! -e "$tmp/repo/web/node_modules" ] || fail "the failed offline install left a node_modules behind"
[ $failures -eq 0 ] || printf '%s\n' "$out" | sed 's/^/  | /' >&2

# 2. node_modules matching the lockfile: nothing to install, so no network is needed. npm's
#    record of the installed tree stands in for the packages themselves.
mkdir -p "$tmp/repo/web/node_modules"
(cd "$REPO/web" && node -e '
const lock = require("./package-lock.json");
const packages = Object.fromEntries(Object.entries(lock.packages).filter(([k, v]) => k !== "" && !v.optional));
process.stdout.write(JSON.stringify({ name: lock.name, version: lock.version, lockfileVersion: 3, requires: true, packages }, null, 2));
') >"$tmp/repo/web/node_modules/.package-lock.json"
offline "$tmp/repo/scripts/npm-ci" --if-needed "$tmp/repo/web"
if [ $rc -ne 0 ] || ! grep -q "nothing to install" <<<"$out"; then
  fail "npm-ci --if-needed with matching node_modules, offline: exit $rc: $out"
elif [ "$took" -gt 10 ]; then
  fail "npm-ci --if-needed with matching node_modules took ${took}s"
else
  echo "ok: node_modules matching the lockfile needs no network (${took}s)"
fi

# 3. node_modules that differs from the lockfile (one version changed): an install is needed,
#    and offline it fails fast with the message, leaving node_modules as it was.
node -e '
const fs = require("fs"); const path = process.argv[1];
const installed = JSON.parse(fs.readFileSync(path, "utf8"));
installed.packages["node_modules/livekit-client"].version = "0.0.1";
fs.writeFileSync(path, JSON.stringify(installed));
' "$tmp/repo/web/node_modules/.package-lock.json"
before="$(sha256sum "$tmp/repo/web/node_modules/.package-lock.json")"
offline "$tmp/repo/scripts/npm-ci" --if-needed "$tmp/repo/web"
if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -eq 137 ] || [ "$took" -gt "$LIMIT" ]; then
  fail "npm-ci --if-needed with a stale node_modules, offline: exit $rc after ${took}s: $out"
elif ! grep -q "livekit-client is installed at 0.0.1, locked at" <<<"$out" || ! grep -q "cannot reach" <<<"$out"; then
  fail "npm-ci --if-needed with a stale node_modules, offline: unclear message: $out"
else
  echo "ok: a stale node_modules fails offline in ${took}s with the reason"
fi
[ "$(sha256sum "$tmp/repo/web/node_modules/.package-lock.json")" = "$before" ] ||
  fail "the failed offline install changed node_modules"

if [ $failures -ne 0 ]; then
  echo "$failures offline npm check(s) failed" >&2
  exit 1
fi
echo "offline npm checks passed"
