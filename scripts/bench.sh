#!/usr/bin/env bash
# Measures patchlag-exporter with ten years of history (about 150 MSRC-shaped bulletins, 20,000
# content releases in five tiers, file:// sources, default 90-day series window), side by side
# with nginx serving the same bytes as a static file:
#
#   - /metrics throughput against nginx, plain and gzip (wrk, same threads, connections and
#     duration, loopback, the two servers measured back to back, median of the ratios);
#   - uncached render time (criterion, `render/uncached/*`: 1, 5, 10 and 20 years of history);
#   - a 5 MB MSRC answer parsed: time and the heap it takes at the peak (criterion, `msrc`);
#   - 7 and 12 MB MSRC month documents read for out-of-band updates: time and heap (criterion);
#   - start-up to ready, with an empty database and with the history already stored;
#   - resident memory after at least 100,000 scrapes (and node_exporter's, when installed).
#
# nginx gets a copy of one /metrics answer as `metrics` and its gzip form (the exporter's own
# bytes) as `metrics.gz`; `gzip_static` serves the latter to clients that accept gzip, so both
# servers send identical bodies and do no compression per request. nginx runs one worker
# process, as the exporter serves HTTP on one thread (--workers to change), with the access log
# off, open files cached and keep-alive unlimited.
#
# Needs wrk, nginx (Debian: nginx-light), curl and gzip. Other work on the machine skews the
# numbers: the ratios come from runs where both servers are measured back to back, repeated.
#
# Usage: scripts/bench.sh [--smoke] [--bin PATH] [--fixtures DIR] [--repeat N] [--duration S]
#                         [--connections N] [--workers N]
#   --smoke        a few seconds end to end (short runs, no render benchmark, no 100,000
#                  scrapes): checks that everything works, numbers are not meaningful
#   --bin PATH     use this exporter binary instead of building the release one
#   --fixtures DIR use fixtures already written by `cargo run --example ten_year_history`
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
bin=""
fixtures=""
repeat=5
duration=10
connections=16
workers=1
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --bin) bin=$2; shift ;;
    --fixtures) fixtures=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --duration) duration=$2; shift ;;
    --connections) connections=$2; shift ;;
    --workers) workers=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if ((smoke)); then
  repeat=1
  duration=1
  connections=4
fi
scrapes_wanted=100000

nginx=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl gzip "$nginx"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (Debian: apt-get install wrk nginx-light curl gzip)" >&2; exit 2; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "bench: $*" >&2; exit 1; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A loopback port nothing listens on (bash's /dev/tcp fails to connect).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

if [ -z "$bin" ]; then
  echo "building the release binary and the history generator..."
  cargo build --release --quiet --bin patchlag-exporter --example ten_year_history
  bin=target/release/patchlag-exporter
fi
history="fixtures from $fixtures"
if [ -z "$fixtures" ]; then
  fixtures=$tmp/fixtures
  gen=target/release/examples/ten_year_history
  [ -x "$gen" ] || cargo build --release --quiet --example ten_year_history
  history=$("$gen" "$fixtures" | sed 's/^[^:]*: //')
fi
config=$fixtures/patchlag.yml
[ -f "$config" ] || fail "no $config"

exporter_pid=""
exporter_addr=""
# start_exporter DB: starts the exporter and waits until it listens.
start_exporter() {
  local log=$tmp/exporter.log
  : >"$log"
  "$bin" --config.file "$config" --storage.path "$1" --web.listen-address 127.0.0.1:0 \
    --log.level info 2>"$log" &
  exporter_pid=$!
  pids+=("$exporter_pid")
  local deadline=$(($(now_ms) + 30000))
  until exporter_addr=$(grep -o 'msg=listening address=[0-9.:]*' "$log" | cut -d= -f3) && [ -n "$exporter_addr" ]; do
    kill -0 "$exporter_pid" 2>/dev/null || fail "the exporter exited: $(cat "$log")"
    (($(now_ms) < deadline)) || fail "the exporter did not start: $(cat "$log")"
    sleep 0.001
  done
}

stop_exporter() {
  kill "$exporter_pid"
  wait "$exporter_pid" 2>/dev/null || true
}

# wait_ready: milliseconds from now until /-/ready answers 200.
wait_ready() {
  local deadline=$(($(now_ms) + 60000))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$exporter_addr/-/ready")" = 200 ]; do
    (($(now_ms) < deadline)) || fail "the exporter did not become ready"
  done
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
median_of() { tr ' ' '\n' <<<"$1" | grep . | median; }
range_of() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk 'NR == 1 {min = $1} {max = $1} END {print min "-" max}'; }

# Start-up to ready: from launching the process until /-/ready says 200, with an empty database
# and with the history already stored; the exporter left running at the end is the one used
# below.
db=$tmp/history.db
startups_empty=""
startups_stored=""
cpu_empty=""
cpu_stored=""
ticks=$(getconf CLK_TCK)
# cpu_ms: CPU time (user + system) the exporter has used so far, in milliseconds.
cpu_ms() { awk -v t="$ticks" '{print int(($14 + $15) * 1000 / t)}' "/proc/$exporter_pid/stat"; }
for ((i = 0; i < repeat; i++)); do
  ((i == 0)) || stop_exporter
  rm -f "$db" "$db-wal" "$db-shm"
  t0=$(now_ms)
  start_exporter "$db"
  wait_ready
  startups_empty+="$(($(now_ms) - t0)) "
  cpu_empty+="$(cpu_ms) "
  stop_exporter
  t0=$(now_ms)
  start_exporter "$db"
  wait_ready
  startups_stored+="$(($(now_ms) - t0)) "
  cpu_stored+="$(cpu_ms) "
done

# The same bytes for nginx, plain and gzip.
root=$tmp/root
mkdir -p "$root" "$tmp/nginx"
curl -sf "http://$exporter_addr/metrics" -o "$root/metrics"
curl -sf -H 'Accept-Encoding: gzip' "http://$exporter_addr/metrics" -o "$root/metrics.gz"
gzip -t "$root/metrics.gz" || fail "the gzip answer is not gzip"
gzip -dc "$root/metrics.gz" | grep -q '^patchlag_goal_seconds' || fail "the gzip answer is not the exposition"
plain_bytes=$(wc -c <"$root/metrics")
gzip_bytes=$(wc -c <"$root/metrics.gz")
series=$(grep -vc '^#' "$root/metrics")

nginx_port=$(free_port)
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes $workers;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    sendfile on;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    types { }
    default_type "text/plain; version=0.0.4; charset=utf-8";
    server {
        listen 127.0.0.1:$nginx_port;
        root $root;
        location = /metrics {
            gzip_static on;
            gzip_vary on;
        }
    }
}
EOF
"$nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)
deadline=$(($(now_ms) + 10000))
until curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/metrics"; do
  (($(now_ms) < deadline)) || fail "nginx did not start: $(cat "$tmp/nginx/error.log")"
  sleep 0.01
done
cmp -s <(curl -s "http://127.0.0.1:$nginx_port/metrics") "$root/metrics" || fail "nginx serves other bytes"
[ "$(curl -s -H 'Accept-Encoding: gzip' -D - -o /dev/null "http://127.0.0.1:$nginx_port/metrics" | grep -ci '^content-encoding: gzip')" = 1 ] ||
  fail "nginx does not serve the gzip copy"

scrapes=0
rate=0
# measure URL [wrk option...]: one wrk run; sets $rate (requests per second) and counts the
# exporter's scrapes.
measure() {
  local url=$1 out requests
  shift
  out=$(wrk -t1 -c"${conns:-$connections}" -d"${duration}s" "$@" "$url")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  if [[ $url == *"$exporter_addr"* ]]; then scrapes=$((scrapes + requests)); fi
  rate=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
}

declare -A ratios rates_exporter rates_nginx
for mode in plain gzip; do
  headers=()
  [ "$mode" = gzip ] && headers=(-H 'Accept-Encoding: gzip')
  for ((i = 0; i < repeat; i++)); do
    # Alternate which server goes first, so that a change in background load hits both.
    if ((i % 2 == 0)); then
      measure "http://$exporter_addr/metrics" "${headers[@]}"
      e=$rate
      measure "http://127.0.0.1:$nginx_port/metrics" "${headers[@]}"
      n=$rate
    else
      measure "http://127.0.0.1:$nginx_port/metrics" "${headers[@]}"
      n=$rate
      measure "http://$exporter_addr/metrics" "${headers[@]}"
      e=$rate
    fi
    awk -v e="$e" -v n="$n" 'BEGIN { if (e <= 0 || n <= 0) exit 1 }' || fail "wrk measured nothing ($e, $n)"
    rates_exporter[$mode]+="$e "
    rates_nginx[$mode]+="$n "
    ratios[$mode]+="$(awk -v e="$e" -v n="$n" 'BEGIN {printf "%.3f", e / n}') "
    echo "$mode run $((i + 1)): exporter $e req/s, nginx $n req/s"
  done
done

# Resident memory: right after the throughput runs, and on a freshly started exporter after at
# least 100,000 scrapes as Prometheus makes them (gzip, two servers: two connections).
stress_scrapes=$scrapes
stress_rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$exporter_pid/status")
threads=$(awk '/^Threads:/ {print $2}' "/proc/$exporter_pid/status")
stop_exporter
start_exporter "$db"
wait_ready
scrapes=0
wanted=$scrapes_wanted
((smoke)) && wanted=1
while ((scrapes < wanted)); do
  conns=2 measure "http://$exporter_addr/metrics" -H 'Accept-Encoding: gzip'
done
rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$exporter_pid/status")
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$exporter_pid/status")

# criterion_times: "name median unit" for every benchmark in criterion's output on stdin. Only
# the first "time:" line of a benchmark is its time: when an earlier run is stored, criterion
# follows it with the change in percent, also written "time:".
criterion_times() {
  awk '/^[a-z]/ {name = $1} /time:/ && !seen[name]++ {gsub(/[][]/, ""); for (i = 1; i <= NF; i++) if ($i == "time:") print name, $(i + 3), $(i + 4)}'
}
render="not measured (--smoke)"
render_years="not measured (--smoke)"
msrc="not measured (--smoke)"
documents="not measured (--smoke)"
if ((!smoke)); then
  echo "criterion: render/uncached (1, 5, 10 and 20 years of history) ..."
  times=$(cargo bench --quiet --bench render -- 'render/uncached/' --warm-up-time 1 --measurement-time 5 2>/dev/null | criterion_times)
  render=$(awk '$1 == "render/uncached/10" {print $2, $3}' <<<"$times")
  render_years=$(awk '{sub("render/uncached/", "", $1); printf "%s%s year%s: %s %s", sep, $1, ($1 == 1 ? "" : "s"), $2, $3; sep = ", "}' <<<"$times")
  echo "criterion: msrc/parse 5 MB ..."
  out=$(cargo bench --quiet --bench msrc_parse -- --warm-up-time 1 --measurement-time 5 2>"$tmp/msrc.err")
  heap=$(grep -o 'peak [0-9]* bytes ([0-9.]*% of the answer)' "$tmp/msrc.err" | awk '{printf "%.1f MB heap at the peak %s %s %s %s", $2 / 1e6, $4, $5, $6, $7}')
  msrc="$(criterion_times <<<"$out" | awk '$1 == "msrc/parse" {print $2, $3; exit}'), $heap"
  documents=$(criterion_times <<<"$out" | awk '$1 ~ /^msrc\/document-/ {sub("msrc/document-", "", $1); printf "%s%s: %s %s", sep, $1, $2, $3; sep = ", "}')
  doc_heap=$(grep -o 'peak [0-9]* bytes' "$tmp/msrc.err" | tail -1 | awk '{printf "%.0f KB", $2 / 1e3}')
  documents="$documents; at most $doc_heap of heap beyond the document"
fi

node_rss="not installed"
((smoke)) && node_rss="not measured (--smoke)"
node_exporter=$(command -v prometheus-node-exporter || command -v node_exporter || true)
if [ -n "$node_exporter" ] && ((!smoke)); then
  "$node_exporter" --web.listen-address=127.0.0.1:0 2>"$tmp/node_exporter.log" &
  node_pid=$!
  pids+=("$node_pid")
  sleep 1
  node_addr=$(grep -o 'address=[0-9.:]*' "$tmp/node_exporter.log" | tail -1 | cut -d= -f2)
  wrk -t1 -c2 -d10s "http://$node_addr/metrics" >/dev/null
  node_rss="$(awk '/^VmRSS:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$node_pid/status") after 10 s of scrapes"
fi

mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
echo
echo "history: $history"
echo "/metrics: $plain_bytes bytes ($gzip_bytes gzip), $series samples"
echo "wrk -t1 -c$connections -d${duration}s, $repeat runs per mode, nginx worker_processes $workers"
echo "exporter threads at the end: $threads (one serves HTTP, the rest are the blocking pool); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measure | result | target |"
echo "|---|---|---|"
for mode in plain gzip; do
  echo "| /metrics throughput vs nginx, $mode (median of $repeat) | $(median_of "${ratios[$mode]}")x ($(median_of "${rates_exporter[$mode]}") vs $(median_of "${rates_nginx[$mode]}") req/s) | >= 0.8x |"
done
echo "| render, uncached, ten years (criterion) | $render | < 1 ms |"
echo "| render, uncached, by length of history | $render_years | the same |"
echo "| 5 MB MSRC answer parsed (criterion) | $msrc | < 50 ms, one copy |"
echo "| MSRC month document read for out-of-band updates (criterion) | $documents | 7 MB < 100 ms, heap below the document's size |"
echo "| start-up to ready, empty database (median of $repeat) | $(median_of "$startups_empty") ms ($(range_of "$startups_empty")), CPU $(median_of "$cpu_empty") ms | < 200 ms |"
echo "| start-up to ready, history stored (median of $repeat) | $(median_of "$startups_stored") ms ($(range_of "$startups_stored")), CPU $(median_of "$cpu_stored") ms | < 200 ms |"
echo "| resident memory after $scrapes scrapes (2 connections, gzip) | $(mib "$rss_kib") (peak $(mib "$hwm_kib"), during start-up) | < 15 MiB |"
echo "| resident memory after the throughput runs ($stress_scrapes scrapes, $connections connections) | $(mib "$stress_rss_kib") | |"
echo "| node_exporter resident memory, for reference | $node_rss | |"
