#!/usr/bin/env bash
# Measures how long a valid first-time basic-auth login takes while requests for unknown users
# are being checked. The web configuration has one user with a bcrypt hash of cost 14 (about a
# second a check); a fresh exporter (nothing cached) gets N requests for N different unknown
# users at once, and 50 ms later the valid login, whose time is measured:
#
#   alone          the valid login with nothing else going on: one check
#   other address  the unknown users come from 127.0.0.1, the login from 127.0.0.2
#                  (an attacker elsewhere than the scraper)
#   same address   all from 127.0.0.1 (an attacker on the scraper's host, or behind the same
#                  proxy: its checks and the scraper's share one lane)
#
# Each figure is the median of --repeat runs, each with a new exporter process. Needs curl.
#
# Usage: scripts/login-under-load.sh [--bin PATH] [--repeat N] [--unknown N]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
repeat=5
unknown=3
while (($#)); do
  case $1 in
    --bin) bin=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --unknown) unknown=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
command -v curl >/dev/null || { echo "login-under-load: curl not found" >&2; exit 2; }
if [[ -z $bin ]]; then
  cargo build --release --locked --quiet
  bin=target/release/patchlag-exporter
fi

work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The password is "scrape-secret"; the hash is bcrypt cost 14.
cat >"$work/web.yml" <<'EOF'
basic_auth_users:
  prometheus: $2b$14$PQy3cWgf9YifUxum9q3AXO/2.3LCEhdvMCvwuON874uO7SVwNkUOu
EOF

# Two small local sources: polling them at start takes milliseconds, so nothing but the checks
# competes for the CPU.
fixtures=$PWD/tests/fixtures/core
cat >"$work/patchlag.yml" <<YAML
defaults:
  interval: 1h
tiers:
  english:
    goal: 24h
    bulletins: [msrc]
sources:
  msrc:
    role: bulletins
    kind: msrc
    url: file://$fixtures/msrc-updates.json
  pmimport:
    role: releases
    kind: json
    url: file://$fixtures/pmimport-releases.json
    items: \$.releases[*]
    id: \$.version
    published: \$.released
    tier: \$.language
    tier_map: {English: english}
YAML

# Starts a fresh exporter; sets $pid and $port.
start() {
  rm -f "$work/patchlag.db" "$work/log"
  "$bin" --config.file "$work/patchlag.yml" --storage.path "$work/patchlag.db" \
    --web.config.file "$work/web.yml" --web.listen-address 127.0.0.1:0 2>"$work/log" &
  pid=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/.*msg=listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/log" 2>/dev/null)
    if [[ -n $port ]]; then
      # Let the first polls finish.
      sleep 0.5
      return
    fi
    sleep 0.05
  done
  echo "login-under-load: the exporter did not start" >&2
  cat "$work/log" >&2
  exit 1
}

stop() {
  kill "$pid" && wait "$pid" 2>/dev/null || true
  pid=""
}

# The valid login's time in seconds, from address $1.
login() {
  curl -s -o /dev/null -w '%{time_total}' --interface "$1" -u prometheus:scrape-secret \
    "http://127.0.0.1:$port/-/healthy"
}

# Runs one measurement: $1 = address of the valid login, $2 = 1 to send unknown users first.
measure() {
  start
  local others=()
  if (($2)); then
    for i in $(seq "$unknown"); do
      curl -s -o /dev/null --interface 127.0.0.1 -u "nobody$i:guess$i" \
        "http://127.0.0.1:$port/-/healthy" &
      others+=($!)
    done
    sleep 0.05
  fi
  login "$1"
  echo
  for p in "${others[@]}"; do wait "$p" || true; done
  stop
}

median() {
  sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

run() {
  local label=$1 address=$2 flood=$3 times=()
  for _ in $(seq "$repeat"); do
    times+=("$(measure "$address" "$flood")")
  done
  printf '%-14s median %5.2f s   runs: %s\n' "$label" \
    "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"
}

echo "valid first-time login, one user at bcrypt cost 14, $unknown unknown-user requests sent 50 ms before it ($repeat runs each)"
run "alone" 127.0.0.1 0
run "other address" 127.0.0.2 1
run "same address" 127.0.0.1 1
