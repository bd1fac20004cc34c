#!/usr/bin/env python3
"""Generates the AMQP 0-9-1 method structs and their codec from the protocol definition.

This script is only the entry point, kept at this path because ctest, the README and the
first line of every generated file name it. The generator is the amqp_codegen package beside
it; its __init__.py lists what is generated and which module does what.

Usage: tools/codegen/gen_amqp_methods.py [SPEC_JSON] [--check] [--root REPO_ROOT]
"""

import pathlib
import sys

# Python puts this script's directory on sys.path by itself, but not under -P, -I or
# PYTHONSAFEPATH; say it explicitly so the package is found from any working directory.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from amqp_codegen.cli import main  # noqa: E402  (needs the sys.path entry above)

if __name__ == "__main__":
    sys.exit(main())
