#!/usr/bin/env bash
# What `npm test` needs beyond `npm ci`: Debian's Chromium, for the dashboard's browser tests (test/dashboard).
# playwright-core drives it; it never downloads a browser of its own. Safe to run again: installs only what is missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium) (already installed)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Install Chromium with your system's package manager, or set CHROMIUM_PATH to a Chromium or Chrome binary." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y chromium
echo "chromium: $(command -v chromium)"
