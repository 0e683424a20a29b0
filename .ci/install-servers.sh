#!/usr/bin/env bash
# Install the real servers the backend tests start (idempotent; safe to run again):
#   - OpenSSH sshd for SFTP, from Debian packages, when /usr/sbin/sshd is missing;
#   - GnuPG (gpg, gpg-agent, gpgconf) for PGP-encrypted exports, when gpg is missing;
#   - Azurite (Azure Blob / ADLS Gen2 / Data Landing Zone emulator) into ./node_modules,
#     at the version pinned in package.json / package-lock.json.
# moto (S3) and fake-gcs-server (GCS) come with the Python dev dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/sbin/sshd ]; then
    echo "install-servers: installing openssh-server" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi

if ! command -v gpg >/dev/null 2>&1 || ! command -v gpgconf >/dev/null 2>&1; then
    echo "install-servers: installing gnupg (decrypts PGP-encrypted exports)" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gnupg gpg-agent >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install-servers: npm is missing; install Node.js 20+ to get Azurite" >&2
    exit 1
fi
if [ ! -x node_modules/.bin/azurite-blob ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "install-servers: installing azurite (npm ci)" >&2
    npm ci --no-audit --no-fund --loglevel=error
fi
echo "install-servers: sshd $(test -x /usr/sbin/sshd && echo ok), azurite $(node_modules/.bin/azurite-blob --version 2>/dev/null || echo '?')" >&2
