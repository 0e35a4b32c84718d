#!/usr/bin/env bash
# What `npm test` needs beyond `npm ci`: Debian's Chromium, for the dashboard's browser tests (test/dashboard), and
# Debian's redis-server, for the shared-state tests (test/redis), which start their own on a free port.
# playwright-core drives Chromium; it never downloads a browser of its own. Safe to run again: installs only what is
# missing.
set -euo pipefail
missing=()
for binary in chromium redis-server; do
  if command -v "$binary" >/dev/null 2>&1; then
    echo "$binary: $(command -v "$binary") (already installed)"
  else
    missing+=("$binary")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Install ${missing[*]} with your system's package manager (or set CHROMIUM_PATH / REDIS_SERVER_PATH)." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
# The Debian package names are the binaries' names.
$SUDO apt-get install -y "${missing[@]}"
for binary in "${missing[@]}"; do echo "$binary: $(command -v "$binary")"; done
