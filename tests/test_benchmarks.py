"""The benchmark harness itself (benchmarks/run.py): its maths, its table and a --quick smoke run.

No timing assertions: speed is measured by the harness, side by side, never asserted in tests.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ie_benchmarks_run", RUN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_median_odd_even(bench):
    assert bench.median([3.0, 1.0, 2.0]) == 2.0
    assert bench.median([4.0, 1.0, 2.0, 3.0]) == 2.5
    with pytest.raises(ValueError):
        bench.median([])


def test_spread_is_min_max(bench):
    assert bench.spread([1.234, 0.5, 2.0]) == "0.50–2.00"
    assert bench.spread([7.0], digits=1) == "7.0–7.0"


def test_paired_ratio_uses_rounds(bench):
    # per-round ratios 0.5, 0.5, 2.0 → median 0.5 (a noisy round does not move it)
    assert bench.paired_ratio([1.0, 2.0, 8.0], [2.0, 4.0, 4.0]) == 0.5
    assert bench.paired_ratio([1.0], [0.0]) is None


def test_series_medians(bench):
    s = bench.Series("x", [bench.Sample(1.0, 2048, 0, 0.5), bench.Sample(3.0, 4096, 0, 1.5),
                           bench.Sample(2.0, 1024, 1, 1.0)])
    assert s.wall == 2.0
    assert s.cpu == 1.0
    assert s.peak_mib == 2.0
    assert s.failed == [1]


def test_markdown_table_escapes_and_aligns(bench):
    table = bench.markdown_table(["a", "b"], [["x|y", None], [1, "two\nlines"]])
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | – |", "| 1 | two lines |"]


def test_human_size(bench):
    assert bench.human_size(1_590_000) == "1.59 MB"
    assert bench.human_size(351_000) == "351 kB"
    assert bench.human_size(None) == "–"


def test_run_process_measures_its_own_child(bench, tmp_path):
    sample = bench.run_process([sys.executable, "-c", "b = bytearray(64 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"])
    assert sample.returncode == 0
    assert sample.maxrss_kib >= 64 * 1024
    assert sample.wall > 0 and sample.cpu >= 0
    failing = bench.run_process([sys.executable, "-c", "raise SystemExit(3)"], log=tmp_path / "log")
    assert failing.returncode == 3


def test_parse_args(bench):
    args = bench.parse_args(["--quick"])
    assert args.runs == 1 and "batch" not in args.groups and "scale" not in args.groups
    args = bench.parse_args(["--only", "epub,scale", "--runs", "3"])
    assert args.groups == ["epub", "scale"] and args.runs == 3
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "nonsense"])


def test_quick_run_on_a_tiny_input(tmp_path):
    tiny = tmp_path / "tiny.md"
    tiny.write_text("# 小访谈\n\n**主持人**：你好。\n\n**嘉宾**：你好，谢谢邀请。\n", encoding="utf-8")
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--only", "epub", "--seed", str(tiny),
                           "--no-epubcheck", "--no-pandoc", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert text == proc.stdout
    assert "| case | command | runs |" in text
    assert "interview-export epub" in text
    assert "## Targets (issues 8 and 17)" in text
    assert "seed → EPUB whole process ≤ 0.25 s" in text
    assert "3bd4e6d" in text      # the code timed beside ours, or said why not (no git history)
    assert "pandoc (not installed or --no-pandoc)" in text


def test_dask_projection_takes_the_largest_bound(bench):
    costs = {"n": 34, "prep_ms": 2.0, "prep_cpu_ms": 2.0, "write_ms": 8.0, "write_cpu_ms": 8.0, "trip_ms": 9.0, "trip_ms_max": 40.0, "tiny_trip_ms": 3.0,
             "scheduler_ms_per_task": 1.0, "unit_bytes": 250_000, "unit_bytes_max": 4_000_000,
             "book_bytes": 2_000_000, "bytes_per_article": 2_500_000}
    jobs = bench.Series("jobs2", [bench.Sample(60.0, 1024, 0, 68.0)])     # 2.0 CPU s per article
    text = "\n".join(bench.dask_projection(costs, jobs, 34, 68, 2))
    assert "**9.0 ms**" in text and "t_cpu = 2.00 s" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if "articles on" in line}
    # 16 cores: CPU 10,000 × 2.0 / 16 s = 20.8 min; 256 cores: the 1 Gbit/s link, 10,000 × 20 ms = 3.3 min
    assert "20.8 min" in rows["10,000 articles on 16 cores"] and rows["10,000 articles on 16 cores"].endswith("CPU |")
    assert "3.3 min" in rows["10,000 articles on 256 cores"] and "network" in rows["10,000 articles on 256 cores"]
