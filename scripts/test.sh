#!/usr/bin/env bash
# The whole test suite. On a fresh Debian machine it first installs what the tests talk to
# (promtool, amtool, headless Chromium and chromedriver, poppler-utils, from Debian's
# packages), then runs lints, unit, integration and end-to-end tests, and the Prometheus rule
# and dashboard checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# Debian's prometheus package has promtool and the server; prometheus-alertmanager has amtool
# and the server as /usr/bin/prometheus-alertmanager. The end-to-end test runs both servers.
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need+=(prometheus)
{ command -v amtool && [ -x /usr/bin/prometheus-alertmanager ]; } >/dev/null 2>&1 ||
  need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# tests/report_html.rs reads the printed report back with pdftotext and pdfinfo.
{ command -v pdftotext && command -v pdfinfo; } >/dev/null 2>&1 || need+=(poppler-utils)
# tests/bench_smoke.rs runs scripts/bench.sh --smoke against nginx with wrk.
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "installing ${need[*]}"
  $sudo apt-get update -qq
  # Debian releases after 12 have no nginx-light; their nginx is as small.
  if [[ " ${need[*]} " == *" nginx-light "* ]] && ! apt-cache show nginx-light >/dev/null 2>&1; then
    need=("${need[@]/nginx-light/nginx}")
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
scripts/check-rules.sh
