#!/usr/bin/env bash
# Fresh Debian/Ubuntu → everything interview-export needs: system packages and a .venv with the project.
# Usage: scripts/setup.sh [test]   ("test" also installs the test tools: EPUBCheck's Java, poppler, qpdf,
#                                   the reading engines: Chromium, WebKitGTK's WebDriver, epub.js and Ace)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=${1:-}
pkgs=(python3 python3-venv python3-pip libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fontconfig)
if [ "$want_test" = test ]; then
  # fonts-noto-cjk: system fallback tests; poppler-utils/qpdf: PDF checks; Java: EPUBCheck.
  pkgs+=(fonts-noto-cjk poppler-utils qpdf)
  command -v java >/dev/null 2>&1 || pkgs+=(default-jre-headless)
  # tests/test_readers.py: Debian's Chromium (driven by Playwright, no browser download), WebKitGTK's
  # WebDriver under Xvfb, and node for epub.js + Ace (tests/readers/package-lock.json).
  pkgs+=(chromium webkit2gtk-driver xvfb xauth)
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# python3 may come from elsewhere (pyenv, a container image): only ask apt for what is really absent.
if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vE '^python3(-venv|-pip)?$' || true))
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "setup: Python >= 3.11 is required" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "$want_test" = test ]; then
  # Playwright for Python drives the system Chromium (executable_path): never fetch a browser of its own.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 .venv/bin/python -m pip install -q -e '.[test]'
  # epub.js, JSZip and Ace, exactly as locked; --ignore-scripts: no install script may download a browser.
  if ! cmp -s tests/readers/package-lock.json tests/readers/node_modules/.installed-lock.json; then
    (cd tests/readers && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp tests/readers/package-lock.json tests/readers/node_modules/.installed-lock.json
  fi
else
  .venv/bin/python -m pip install -q -e .
fi
