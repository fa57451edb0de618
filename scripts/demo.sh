#!/usr/bin/env bash
# Installs interview-export and converts the bundled example interview to EPUB and PDF in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p out
.venv/bin/interview-export build --format epub,pdf -o out --force examples/sample-interview.md
ls -l out/sample-interview.epub out/sample-interview.pdf
cat <<'EOF'

demo: done. The command lives in the project's .venv (it is not on your PATH). Next:
  source .venv/bin/activate          # then: interview-export --help
  interview-export epub examples/sample-interview.md
or without activating: .venv/bin/interview-export --help
EOF
