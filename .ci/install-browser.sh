#!/usr/bin/env bash
# Headless Chromium for the dashboard test (tests/test_dashboard.py). Idempotent: does nothing
# when /usr/bin/chromium is already there. Debian/Ubuntu only; run as root (or with sudo).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
