#!/usr/bin/env bash
# Installs the test dependencies and runs the whole test suite. Fails when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test || exit 1
# lint first (a second): unused names, undefined names, import order, docstrings in src/ — [tool.ruff] in pyproject.toml
.venv/bin/ruff check --quiet src tests benchmarks scripts examples || { echo "test: ruff found problems (ruff check --fix sorts imports)" >&2; exit 1; }
# then types: mypy --check-untyped-defs over src/ ([tool.mypy] in pyproject.toml)
.venv/bin/mypy || { echo "test: mypy found type errors in src/" >&2; exit 1; }
# two worker processes, a whole test file each (module fixtures are built once; TEST_WORKERS=0 runs in one process)
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test: pytest collected no tests — failing on purpose" >&2
  exit 1
fi
exit $rc
