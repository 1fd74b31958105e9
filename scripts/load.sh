#!/usr/bin/env bash
# Load test: holds CONNECTIONS concurrent connections on /metrics for DURATION with wrk, while
# the exporter's sources keep polling, and reports requests/s, errors, latency percentiles and
# the exporter's peak memory and open files.
#
# Usage: scripts/load.sh [DURATION] [CONNECTIONS]     (defaults: 30s, 1000)
#
#   WRK_THREADS       wrk threads (default 2)
#   POLL_INTERVAL     poll interval of every source during the test (default 2s)
#   PATCHLAG_BIN      a binary to test instead of building this checkout (to compare versions)
#
# It builds the release binary and runs it on the offline demo (examples/demo.yml, a temporary
# database) on a free loopback port. Needs wrk (Debian: apt-get install wrk) and curl. Not part
# of the test command.

set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-30s}
connections=${2:-1000}
threads=${WRK_THREADS:-2}
interval=${POLL_INTERVAL:-2s}

for tool in wrk curl; do
    command -v "$tool" >/dev/null || { echo "$tool not found (Debian: apt-get install $tool)" >&2; exit 2; }
done
# wrk needs a descriptor per connection; raise the soft limit as far as the hard one allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((connections + 64)) ]; then
    echo "ulimit -n is $(ulimit -n): too low for $connections connections" >&2
    exit 2
fi

bin=${PATCHLAG_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --locked --quiet
    bin=target/release/patchlag-exporter
fi

tmp=$(mktemp -d)
pid=
sampler=
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# The demo with absolute file URLs, short poll intervals and a database of its own.
sed -e "s|url: file:fixtures/|url: file://$PWD/examples/fixtures/|" \
    -e "s|^  interval: .*|  interval: $interval|" \
    -e "s|^  path: .*|  path: $tmp/load.db|" \
    examples/demo.yml >"$tmp/load.yml"

# The exporter gets the default soft limit of a login shell, as it would under most service
# managers, to show it copes on its own.
(ulimit -Sn 1024 2>/dev/null || true; exec "$bin" --config.file "$tmp/load.yml" \
    --web.listen-address 127.0.0.1:0 --log.level debug 2>"$tmp/exporter.log") &
pid=$!

address=
for _ in $(seq 300); do
    address=$(sed -n 's/.*msg=listening.*address=\([^ ]*\).*/\1/p' "$tmp/exporter.log" | head -1)
    [ -n "$address" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/exporter.log"; exit 1; }
    sleep 0.1
done
[ -n "$address" ] || { echo "the exporter did not start" >&2; cat "$tmp/exporter.log"; exit 1; }
until curl -fs "http://$address/-/ready" >/dev/null; do sleep 0.1; done

metrics=$(curl -fs "http://$address/metrics")
echo "exporter: pid $pid on $address, open files limit $(awk '/Max open files/ {print $4}' /proc/$pid/limits)"
echo "/metrics: $(printf '%s' "$metrics" | wc -c) bytes, $(printf '%s\n' "$metrics" | grep -vc '^#') samples"
rss_before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

# Samples memory and open files every 100 ms while wrk runs.
(
    peak_rss=0 peak_fds=0
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
        fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l)
        [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
        [ "$fds" -gt "$peak_fds" ] && peak_fds=$fds
        echo "$peak_rss $peak_fds" >"$tmp/peaks"
        sleep 0.1
    done
) &
sampler=$!

polls_before=$(grep -c 'poll succeeded' "$tmp/exporter.log" || true)
wrk -t"$threads" -c"$connections" -d"$duration" --timeout 10s --latency \
    "http://$address/metrics" | tee "$tmp/wrk.txt"
polls_after=$(grep -c 'poll succeeded' "$tmp/exporter.log" || true)
sleep 0.3
kill "$sampler" 2>/dev/null || true
sampler=

read -r peak_rss peak_fds <"$tmp/peaks"
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
rss_after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
failed_polls=$(grep -c 'poll failed' "$tmp/exporter.log" || true)
server_errors=$(grep -cE 'level=(error|warn)' "$tmp/exporter.log" || true)

echo
echo "== summary"
echo "requests/s:       $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")"
echo "requests:         $(awk '/requests in/ {print $1}' "$tmp/wrk.txt")"
echo "non-2xx answers:  $(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt" | grep . || echo 0)"
echo "socket errors:    $(grep 'Socket errors' "$tmp/wrk.txt" | sed 's/.*Socket errors: *//' | grep . || echo none)"
echo "latency p50/p75/p90/p99: $(awk '/^ +(50|75|90|99)%/ {printf "%s ", $2}' "$tmp/wrk.txt")"
echo "RSS before:       $((rss_before / 1024)) MiB"
echo "RSS peak:         $((peak_rss / 1024)) MiB (VmHWM $((hwm / 1024)) MiB)"
echo "RSS after:        $((rss_after / 1024)) MiB"
echo "open files peak:  $peak_fds"
echo "polls during:     $((polls_after - polls_before)) succeeded, $failed_polls failed"
echo "warnings/errors:  $server_errors log lines"
if [ "$server_errors" -gt 0 ]; then
    grep -E 'level=(error|warn)' "$tmp/exporter.log" | sort | uniq -c | sort -rn | head -5
fi
