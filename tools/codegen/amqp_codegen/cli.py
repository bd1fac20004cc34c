"""The command line of tools/codegen/gen_amqp_methods.py: write the tree, or --check it.

--check is what ctest runs as amqp_codegen_up_to_date: it prints a diff for every committed
file that differs from what the generator produces, and exits 1 if any does. It exits
EXIT_SKIP when the definition is missing, since that lives outside the repository; ctest counts
the status as skipped (SKIP_RETURN_CODE), not failed. Writing without a definition exits 1.
"""

import argparse
import difflib
import json
import pathlib
import sys

from .generate import generate
from .layout import HEADER_LINE, OWNED_GLOBS

# This file is tools/codegen/amqp_codegen/cli.py.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
DEFAULT_SPEC = "../shared/spec/amqp-rabbitmq-0.9.1.json"  # relative to the repo root
DESCRIPTION = ("Generates the AMQP 0-9-1 method structs and their codec from the protocol "
               "definition.")
EXIT_SKIP = 77


def parse_args(argv):
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("spec", nargs="?", help=f"definition JSON (default: {DEFAULT_SPEC} "
                        "relative to the repository root)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files instead of writing them")
    parser.add_argument("--root", default=str(REPO_ROOT), help="repository root")
    return parser.parse_args(argv)


def is_generated(path):
    """True if the file's first line is HEADER_LINE, i.e. the generator owns it."""
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().rstrip("\n") == HEADER_LINE
    except (OSError, UnicodeDecodeError):
        return False


def leftover_files(root, outputs):
    """Generated files on disk that the generator no longer produces, as repo-relative paths."""
    found = set()
    for pattern in OWNED_GLOBS:
        for path in root.glob(pattern):
            rel = path.relative_to(root).as_posix()
            if rel not in outputs and path.is_file() and is_generated(path):
                found.add(rel)
    return sorted(found)


def sync_outputs(root, outputs, check):
    """Brings root in line with outputs, or with check only reports how it differs.

    Returns the paths that differ (always empty when writing). Files whose text is already
    right are not rewritten, so their timestamps do not trigger a rebuild.
    """
    stale = []
    for rel, text in outputs.items():
        path = root / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current == text:
            continue
        if check:
            stale.append(rel)
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), rel, rel + " (generated)", n=1))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    for rel in leftover_files(root, outputs):
        if check:
            stale.append(rel)
            print(f"{rel}: generated file that the generator no longer produces")
        else:
            (root / rel).unlink()
            print(f"removed {rel}")
    return stale


def main(argv=None):
    """Runs the generator; returns the process exit status."""
    args = parse_args(argv)
    root = pathlib.Path(args.root)
    spec_path = pathlib.Path(args.spec) if args.spec else root / DEFAULT_SPEC
    if not spec_path.is_file():
        print(f"gen_amqp_methods: {spec_path} not found; nothing to do", file=sys.stderr)
        return EXIT_SKIP if args.check else 1

    outputs = generate(json.loads(spec_path.read_text(encoding="utf-8")))
    stale = sync_outputs(root, outputs, args.check)
    if stale:
        print("stale generated files: " + ", ".join(stale) +
              "; run tools/codegen/gen_amqp_methods.py", file=sys.stderr)
        return 1
    return 0
