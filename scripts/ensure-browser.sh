#!/usr/bin/env bash
# Installs what the HTML report's browser tests use (idempotent; does nothing when it is there):
# Debian's chromium and chromium-driver (headless Chromium, driven over the W3C WebDriver API by
# tests/unit/test_html_browser.py). Needs root for apt-get; without root it only says what is missing
# (those tests then skip).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-browser: missing ${missing[*]} and not root: run 'apt-get install ${missing[*]}' (the browser tests will skip)" >&2
    exit 0
  fi
  echo "ensure-browser: installing ${missing[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
chromium --version 2>/dev/null | head -1 || true
