"""``python -m panning``: the same as the ``panning`` command."""

import sys

from .cli import main

sys.exit(main())
