#!/usr/bin/env bash
# Installs the test dependencies and runs the whole test suite. Fails when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test: pytest collected no tests — failing on purpose" >&2
  exit 1
fi
exit $rc
