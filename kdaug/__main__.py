"""`python -m kdaug ...`: the same as the `kdaug` command."""

import sys

from kdaug.cli import main

sys.exit(main())
