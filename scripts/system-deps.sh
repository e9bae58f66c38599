#!/usr/bin/env bash
# What the test suite needs from the system besides Python: Debian's Chromium for the browser
# tests (driven by Playwright through its executable_path; never `playwright install`) and CJK
# fonts so Chinese station names render; HAProxy for the cluster tests and `chargemesh cluster`
# (the balancer in front of the nodes, deploy/haproxy.cfg). Installs them only if missing.
set -euo pipefail
if command -v chromium >/dev/null && command -v haproxy >/dev/null \
  && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q chromium fonts-noto-cjk haproxy >/dev/null 2>&1 || {
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q chromium fonts-noto-cjk haproxy >/dev/null
}
command -v chromium >/dev/null
command -v haproxy >/dev/null
