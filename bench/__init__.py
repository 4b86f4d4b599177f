"""Benchmarks: each script here prints a figure the README quotes (see bench/README.md).

The streaming library lives in ``packages/`` (as in the Truss image); importing ``bench`` puts it on the path.
"""

import sys
from pathlib import Path

_PACKAGES = str(Path(__file__).resolve().parents[1] / "packages")
if _PACKAGES not in sys.path:
    sys.path.append(_PACKAGES)
