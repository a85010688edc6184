"""``python -m jaxrl``: the same as the ``jaxrl`` command."""

import sys

from jaxrl.cli import main

sys.exit(main())
