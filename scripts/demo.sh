#!/usr/bin/env bash
# Installs interview-export and converts the bundled example interview to EPUB and PDF in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
.venv/bin/interview-export build --format epub,pdf -o out --force examples/sample-interview.md
ls -l out/sample-interview.epub out/sample-interview.pdf
