#!/bin/sh
# Command-line examples for interview-export (run from the repository root).
set -eu
# the command on PATH (after `source .venv/bin/activate`), else the project's own
command -v interview-export >/dev/null 2>&1 || PATH="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin:$PATH"

OUT=${1:-out}

# One article → EPUB, with an explicit output file name.
interview-export epub examples/sample-interview.md -o "$OUT/sample-interview.epub"

# The same article → EPUB and PDF in one run (images and fonts prepared once), A5 pages, timings per stage.
interview-export build examples/sample-interview.md --format epub,pdf --page-size A5 -o "$OUT/a5/" --profile

# A whole folder (every *.md inside, recursively) with two worker processes, a JSON report,
# leaving books that already exist alone (--no-clobber) so an interrupted run can resume.
interview-export build examples/ -o "$OUT" --jobs 2 --no-clobber --report "$OUT/report.json"

# What the model made of the article (metadata, sections, speakers, images with their status).
interview-export inspect examples/sample-interview.md --images

# Blocked or slow CDN? Rewrite image URLs to a mirror before fetching:
#   interview-export build articles/*.md --mirror https://cdn.jsdelivr.net/=http://127.0.0.1:8000/ -o books
# Defaults for batch runs can live in ./interview-export.toml (the command line wins), e.g.
#   format = ["epub", "pdf"]
#   output = "books"
#   jobs = 2
#   [metadata]
#   publisher = "我的书架"
