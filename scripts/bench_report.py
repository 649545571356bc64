#!/usr/bin/env python3
"""Writes docs/benchmarks.md from one `make bench` run: when, where, how, one summary table, and
each benchmark's output as it printed it.

Usage: scripts/bench_report.py OUT_DIR DOC  (OUT_DIR holds the *.txt files scripts/bench.sh tees)
"""

import datetime
import os
import platform
import re
import subprocess
import sys

# (file, title, command, what it measures), in the order bench.sh runs them.
SECTIONS = [
    (
        "rust.txt",
        "Rust: crosstrace beside opentelemetry_sdk and fastrace",
        "cargo bench -p crosstrace --bench spans",
        "Per span, best of 5 runs in turns; CPU includes the export threads.",
    ),
    (
        "rust_ir.txt",
        "Rust: instructions per span, crosstrace beside opentelemetry_sdk",
        "valgrind --tool=callgrind on `cargo run --profile bench --example span_probe`",
        "Every thread counted; the difference of a 2,000- and a 12,000-span run per scenario.",
    ),
    (
        "tracing_layer.txt",
        "Rust: a `tracing` span through crosstrace's layer and tracing-opentelemetry",
        "cargo bench -p crosstrace --bench tracing_layer",
        "Per span: wall and process CPU from the first span to the final flush, heap allocations.",
    ),
    (
        "c.txt",
        "C: libcrosstrace beside the Rust core in one process",
        "bash scripts/c.sh bench",
        "Ratios of neighbouring rounds, C loop against the Rust core used directly.",
    ),
    (
        "c_ir.txt",
        "C: instructions per span, libcrosstrace beside the Rust core",
        "valgrind --tool=callgrind on `crosstrace-c-bench probe SIDE N`",
        "Every thread counted; the difference of a 2,000- and a 12,000-span run per loop.",
    ),
    (
        "python.txt",
        "Python: crosstrace beside opentelemetry-sdk",
        "bash scripts/python.sh bench",
        "A fresh interpreter per library and scenario, in turns; the best run of each.",
    ),
    (
        "wasm.txt",
        "JavaScript: the npm package in Node and Chromium beside @opentelemetry/sdk-trace-base",
        "bash scripts/wasm.sh bench",
        "Per span with 3 and 20 attributes (a fresh object each), in loops that yield every 256"
        " spans and that never yield; and the package's size.",
    ),
    (
        "soak.txt",
        "Soak: 1,000,000 spans through OTLP/HTTP to Jaeger, then with the backend down",
        "cargo run --profile bench -p crosstrace --example soak -- up|down",
        "Every span accounted for: exported, or counted as dropped in health.",
    ),
]


def run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kib = int(f.readline().split()[1])
            mem = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def rust_rows(text: str) -> list[tuple[str, str, str, str, str]]:
    """Rows of the spans bench's table: scenario, crosstrace, SDK, SDK/crosstrace CPU."""
    rows = []
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("scenario "))
    except StopIteration:
        return rows
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("("):
            break
        m = re.match(r"(.+?)\s{2,}(\d+)/(\d+) ns\s+(\d+)/(\d+) ns", line)
        if m:
            ct = f"{m[2]} / {m[3]} ns"
            sdk = f"{m[4]} / {m[5]} ns"
            rows.append(("Rust", m[1].strip(), ct, sdk, f"{int(m[5]) / int(m[3]):.2f}x"))
    return rows


def ratio_rows(text: str, runtime: str, scenario: str) -> list[tuple[str, str, str, str, str]]:
    """Rows of a table printed as `scenario  wall / cpu  wall / cpu  ratio x` (µs), the scenario
    matching the regular expression `scenario`."""
    rows = []
    for line in text.splitlines():
        m = re.match(rf"({scenario}) +([\d.]+) / +([\d.]+) +([\d.]+) / +([\d.]+) +([\d.]+)x$", line)
        if m:
            ct, sdk = f"{m[2]} / {m[3]} µs", f"{m[4]} / {m[5]} µs"
            rows.append((runtime, m[1].strip(), ct, sdk, f"{m[6]}x"))
    return rows


def ir_rows(text: str, runtime: str) -> list[tuple[str, str, str, str, str]]:
    """Rows of an instruction table: lines `IR scenario  crosstrace  sdk  ratio x`."""
    rows = []
    for line in text.splitlines():
        m = re.match(IR_LINE, line)
        if m:
            rows.append((runtime, m[1].strip(), m[2], m[3], f"{m[4]}x"))
    return rows


# `IR scenario  crosstrace  sdk  ratio x`, and for Python `loop alone  ratio x` after it.
IR_LINE = r"IR (.+?) +([\d,]+) +([\d,]+) +([\d.]+)x(?: +([\d,]+) +([\d.]+)x)?$"


def loop_rows(text: str) -> list[tuple[str, str, str]]:
    """Python's instruction lines that say what the loop alone costs: scenario, the loop's
    instructions, the ratio of what each library adds beyond it."""
    rows = []
    for line in text.splitlines():
        m = re.match(IR_LINE, line)
        if m and m[5]:
            rows.append((m[1].strip(), m[5], f"{m[6]}x"))
    return rows


def main() -> int:
    out_dir, doc = sys.argv[1], sys.argv[2]
    texts = {}
    for name, *_ in SECTIONS:
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                texts[name] = f.read().rstrip()
    commit = run("git", "rev-parse", "--short", "HEAD")
    if run("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`scripts/bench.sh`, then `scripts/bench_report.py`); each run",
        "replaces this file. Each figure sits beside the official OpenTelemetry SDK of the same",
        "language, measured in the same run.",
        "",
        f"- When: {now}, at commit {commit}",
        f"- Machine: {machine()}",
        f"- Toolchains: {run('rustc', '-V')}; {run('python3', '-V')}; Node {run('node', '-v')}",
        "- Command: `make bench`",
        "",
        "## Summary",
        "",
        "Wall / CPU per span (CPU includes export threads); the last column is how many times",
        "more CPU the SDK spends than crosstrace (above 1.00x: crosstrace is cheaper).",
        "",
        "| runtime | scenario | crosstrace | official SDK | SDK / crosstrace CPU |",
        "|---|---|---|---|---|",
    ]
    rows = (
        rust_rows(texts.get("rust.txt", ""))
        + ratio_rows(texts.get("python.txt", ""), "Python", ".{46}")
        + ratio_rows(texts.get("wasm.txt", ""), "JavaScript", "(?:Node|Chromium), .+?")
    )
    lines += [f"| {r} | {s} | {c} | {k} | {x} |" for r, s, c, k, x in rows]
    if not rows:
        lines.append("| — | no table was printed | | | |")
    irs = (
        ir_rows(texts.get("rust_ir.txt", ""), "Rust")
        + ir_rows(texts.get("python.txt", ""), "Python")
        + ir_rows(texts.get("wasm.txt", ""), "JavaScript")
    )
    lines += [
        "",
        "Instructions per span (callgrind, every thread; stable where time is not): the last",
        "column is how many times more instructions the SDK executes than crosstrace.",
        "",
        "| runtime | scenario | crosstrace | official SDK | SDK / crosstrace |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r} | {s} | {c} | {k} | {x} |" for r, s, c, k, x in irs]
    if not irs:
        lines.append("| — | no instruction counts were printed | | | |")
    c_ir_line = r"^IRC (.+?) +([\d,]+) +([\d,]+) +([\d.]+)x$"
    c_irs = [
        (m[1].strip(), m[2], m[3], f"{m[4]}x")
        for m in re.finditer(c_ir_line, texts.get("c_ir.txt", ""), re.M)
    ]
    if c_irs:
        lines += [
            "",
            "C beside the Rust core, instructions per span (span + 3 attributes; the goal is",
            "C within 1.2x of Rust):",
            "",
            "| C loop | C | Rust core | C / Rust |",
            "|---|---|---|---|",
        ]
        lines += [f"| {s} | {c} | {r} | {x} |" for s, c, r, x in c_irs]
    loops = loop_rows(texts.get("python.txt", ""))
    if loops:
        lines += [
            "",
            "Python's counts include the benchmark's own loop: building a fresh attribute dict",
            "per span, the call. That loop alone, and the ratio of what each library adds beyond",
            "it (a library that cost nothing would still be at the loop's count, which bounds",
            "the ratio above):",
            "",
            "| scenario | loop alone | SDK / crosstrace, beyond the loop |",
            "|---|---|---|",
        ]
        lines += [f"| {s} | {n} | {x} |" for s, n, x in loops]
    lines += ["", "## Each benchmark as it printed", ""]
    for name, title, command, how in SECTIONS:
        lines += [f"### {title}", "", f"`{command}`. {how}", ""]
        if name in texts:
            lines += ["```", texts[name], "```", ""]
        else:
            lines += ["(not run)", ""]
    with open(doc, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {doc}: {len(rows)} summary rows, {len(texts)} of {len(SECTIONS)} sections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
