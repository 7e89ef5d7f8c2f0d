#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser tests, when missing.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
$sudo apt-get install -y -qq chromium chromium-driver >/dev/null ||
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium chromium-driver >/dev/null; }
