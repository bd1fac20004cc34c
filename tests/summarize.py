#!/usr/bin/env python3
"""Adds up JUnit XML reports (GoogleTest and pytest) into one line: "N passed, M failed"
(", K skipped" appended when any were skipped). That line is always the last one printed.

Usage: summarize.py [--crashed NAME:REASON ...] REPORT.xml ...

--crashed counts one failure for a test binary or runner that did not leave a usable report
(it crashed, hung, or exited non-zero although its report shows no failure); REASON is
printed with it. A report file that is missing or does not parse counts as one failure too.

Exit status: 0 if nothing failed and at least one test ran (passed or failed), else 1.
Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def testcases(root: ET.Element):
    """Every <testcase> in a report, whether the root is <testsuites> or <testsuite>."""
    if root.tag == "testcase":
        yield root
        return
    yield from root.iter("testcase")


def outcome(case: ET.Element) -> str:
    """"failed", "skipped" or "passed" for one <testcase>."""
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    if case.find("skipped") is not None:
        return "skipped"
    # GoogleTest marks DISABLED_ tests status="notrun" and GTEST_SKIP ones result="skipped".
    if case.get("status") == "notrun" or case.get("result") in ("skipped", "suppressed"):
        return "skipped"
    return "passed"


def summarize(paths: list[Path], crashed: list[str]) -> tuple[dict, list[str]]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failures: list[str] = []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            counts["failed"] += 1
            failures.append(f"{path.name}: unreadable report ({e})")
            continue
        # pytest may report one test twice (a failing call and a failing teardown); a test
        # counts once, and as failed if any of its entries failed.
        seen: dict[tuple[str, str], str] = {}
        order: list[tuple[str, str]] = []
        for case in testcases(root):
            key = (case.get("classname", ""), case.get("name", ""))
            result = outcome(case)
            if key not in seen:
                order.append(key)
                seen[key] = result
            elif result == "failed" or seen[key] == "skipped" and result == "passed":
                seen[key] = result
        for key in order:
            counts[seen[key]] += 1
            if seen[key] == "failed":
                cls, name = key
                failures.append(f"{path.stem}: {cls + '.' if cls else ''}{name}")
    for item in crashed:
        name, _, reason = item.partition(":")
        counts["failed"] += 1
        failures.append(f"{name}: {reason or 'crashed without a report'}")
    return counts, failures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path)
    parser.add_argument("--crashed", action="append", default=[], metavar="NAME:REASON")
    args = parser.parse_args(argv)

    counts, failures = summarize(args.reports, args.crashed)
    if failures:
        print(f"FAILED ({len(failures)}):")
        for f in failures:
            print(f"  {f}")
    ran = counts["passed"] + counts["failed"]
    if ran == 0:
        print("no tests ran")
    line = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    sys.stdout.flush()
    print(line, flush=True)
    return 0 if counts["failed"] == 0 and ran > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
