"""``python -m scale_rllib …``: the same as the ``scale-rllib`` console script."""

import sys

from scale_rllib.cli import main

sys.exit(main())
