"""``python -m onboardkit``: the ``onboardkit`` command (see :mod:`onboardkit.cli`)."""

from __future__ import annotations

import sys

from onboardkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
