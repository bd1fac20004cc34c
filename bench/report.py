#!/usr/bin/env python3
"""Builds the Sluice-vs-RabbitMQ markdown table from bench/run.sh's raw results.

    report.py RESULTS.jsonl --workloads W --seconds S --warmup W --repeats R [--root DIR]
              [--note TEXT]
    report.py --record WORKLOAD BROKER REPEAT < sluice-perf output   (one raw line)
    report.py --one-line < sluice-perf JSON                           (progress line)

Input: one JSON object per line, as sluice-perf --json prints it plus "workload", "broker"
("sluice" or "rabbitmq") and "repeat", or {"error": ...} for a failed run. Each cell is the
median over the repeats; "±" is half the spread between the lowest and highest run, as a share
of the median, so a glance shows how noisy the row was.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HIGHER, LOWER = "higher", "lower"
THROUGHPUT = [
    ("published msg/s", ("published_per_s",), HIGHER),
    ("delivered msg/s", ("consumed_per_s",), HIGHER),
]
# Which numbers to show for each workload id in bench/workloads.txt.
METRICS = {
    "fanout10": [
        ("published msg/s", ("published_per_s",), HIGHER),
        ("delivered msg/s, all queues", ("consumed_per_s",), HIGHER),
    ],
    "latency-10k": [
        ("delivered msg/s", ("consumed_per_s",), HIGHER),
        ("latency p50 µs", ("latency_us", "p50"), LOWER),
        ("latency p99 µs", ("latency_us", "p99"), LOWER),
        ("latency p99.9 µs", ("latency_us", "p999"), LOWER),
    ],
    "persist-1p": [
        ("confirmed msg/s", ("confirmed_per_s",), HIGHER),
        ("delivered msg/s", ("consumed_per_s",), HIGHER),
        ("confirm latency p99 µs", ("confirm_latency_us", "p99"), LOWER),
    ],
}
METRICS["persist-4p"] = METRICS["persist-1p"]
BROKERS = ("sluice", "rabbitmq")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_workloads(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                wid, description, _ = (part.strip() for part in line.split("|", 2))
                out.append((wid, description))
    return out


def value(run, keys):
    for k in keys:
        run = run[k]
    return float(run)


def human(x, latency):
    if latency:  # microseconds, where the digits below 100 still matter
        return f"{x:.1f}" if x < 100 else f"{x:.0f}"
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= scale:
            v = x / scale
            return f"{v:.2f}{suffix}" if v < 10 else f"{v:.1f}{suffix}" if v < 100 else \
                f"{v:.0f}{suffix}"
    return f"{x:.0f}"


def cell(values, latency):
    if not values:
        return "n/a", None
    med = statistics.median(values)
    spread = (max(values) - min(values)) / 2 / med * 100 if med > 0 else 0.0
    return f"{human(med, latency)} ±{spread:.0f}%", med


def ratio(sluice, rabbit, better):
    if sluice is None or rabbit is None or rabbit == 0:
        return "n/a"
    r = sluice / rabbit
    good = r >= 1 if better == HIGHER else r <= 1
    return f"**{r:.2f}×**" if good else f"{r:.2f}×"


def command(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_note():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(l.split()[1] for l in f if l.startswith("MemTotal")))
            mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()} vCPU {model}{mem}, Linux {platform.release()}"


def versions(root):
    commit = command("git", "-C", root, "rev-parse", "--short", "HEAD") or "unknown"
    if command("git", "-C", root, "status", "--porcelain", "--untracked-files=no"):
        commit += " plus uncommitted changes"
    rabbit = command("dpkg-query", "-W", "-f=${Version}", "rabbitmq-server") or "unknown"
    erlang = command("dpkg-query", "-W", "-f=${Version}", "erlang-base") or "unknown"
    return commit, rabbit, erlang


def one_line():
    """--one-line: a progress summary of the sluice-perf JSON on stdin."""
    d = json.load(sys.stdin)
    print(f"published {d['published_per_s']:.0f}/s  delivered {d['consumed_per_s']:.0f}/s  "
          f"p99 {d['latency_us']['p99']:.0f} us")


def record(workload, broker, repeat):
    """--record: stdin is sluice-perf's JSON, or its error message if it failed."""
    text = sys.stdin.read().strip()
    try:
        d = json.loads(text)
    except json.JSONDecodeError:
        d = {"error": text or "sluice-perf failed without a message"}
    d.update(workload=workload, broker=broker, repeat=int(repeat))
    print(json.dumps(d))


def main():
    if sys.argv[1:2] == ["--one-line"]:
        return one_line()
    if sys.argv[1:2] == ["--record"]:
        return record(*sys.argv[2:5])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--workloads", required=True)
    parser.add_argument("--seconds", required=True)
    parser.add_argument("--warmup", required=True)
    parser.add_argument("--repeats", required=True)
    parser.add_argument("--root", default=".")
    parser.add_argument("--note", default="", help="a caveat to print under the header")
    args = parser.parse_args()

    runs = load(args.results)
    commit, rabbit, erlang = versions(args.root)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        f"# Sluice vs RabbitMQ, {now}",
        "",
        f"- Machine: {machine_note()}. Shared and noisy: only the ratios within this one run "
        "mean anything.",
        f"- Sluice at commit {commit}; RabbitMQ {rabbit} on Erlang {erlang} (Debian packages, "
        "default configuration, no plugins). Both on 127.0.0.1, one at a time.",
        f"- Each cell is the median of {args.repeats} runs of {args.seconds} s (after "
        f"{args.warmup} s of warmup), brokers alternating; ± is half the spread between the "
        "lowest and highest run. The ratio is Sluice/RabbitMQ; bold where Sluice is ahead "
        "(higher throughput, lower latency).",
    ]
    if args.note:
        out.append(f"- Note: {args.note}")
    out += [
        "",
        "| Workload | Metric | Sluice | RabbitMQ | Sluice/RabbitMQ |",
        "|---|---|---:|---:|---:|",
    ]
    failures = []
    for wid, description in read_workloads(args.workloads):
        mine = [r for r in runs if r.get("workload") == wid]
        if not mine:
            continue
        ok = {b: [r for r in mine if r["broker"] == b and "error" not in r] for b in BROKERS}
        for b in BROKERS:
            bad = [r for r in mine if r["broker"] == b and "error" in r]
            if bad:
                failures.append(f"- {wid} on {b}: {len(bad)} of {len(bad) + len(ok[b])} runs "
                                f"failed; last error: {bad[-1]['error']}")
        for i, (label, keys, better) in enumerate(METRICS.get(wid, THROUGHPUT)):
            latency = better == LOWER
            s_text, s_med = cell([value(r, keys) for r in ok["sluice"]], latency)
            r_text, r_med = cell([value(r, keys) for r in ok["rabbitmq"]], latency)
            name = description if i == 0 else ""
            out.append(f"| {name} | {label} | {s_text} | {r_text} | "
                       f"{ratio(s_med, r_med, better)} |")
    if failures:
        out += ["", "Failed runs (not in the medians):", ""] + failures
    suspicious = [
        f"- {r['workload']} on {r['broker']}, run {r['repeat']}: {r.get('out_of_order', 0)} "
        f"duplicate or reordered deliveries, {r.get('stale', 0)} left over from earlier runs"
        for r in runs if r.get("out_of_order", 0) or r.get("stale", 0)
    ]
    if suspicious:
        out += ["", "Deliveries sluice-perf flagged (the runs still count):", ""] + suspicious
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
