#!/usr/bin/env bash
# The peers `make bench` measures verifier against that are not Python packages: rclone (listing,
# md5sum, cat), from Debian's packages. Idempotent: does nothing when rclone is already there.
# DuckDB and pyarrow come with the Python dependencies; moto too. Debian/Ubuntu; root or sudo.
set -euo pipefail

if command -v rclone >/dev/null 2>&1; then
    echo "install-bench: $(rclone version 2>/dev/null | head -1)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "install-bench: installing rclone (the listing and hashing peer of make bench)" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rclone >/dev/null
echo "install-bench: $(rclone version | head -1)" >&2
