"""`python -m bot.cli` runs the console script."""

import sys

from bot.cli import main

sys.exit(main())
