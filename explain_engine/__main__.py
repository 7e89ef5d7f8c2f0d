"""``python -m explain_engine``: see :mod:`explain_engine.cli`."""

import sys

from explain_engine.cli import main

sys.exit(main())
