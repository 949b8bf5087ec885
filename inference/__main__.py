"""``python -m inference``: see :mod:`inference.cli`."""

import sys

from frontlines.inference.cli import main

sys.exit(main())
