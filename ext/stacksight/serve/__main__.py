"""Allow ``python -m stacksight.serve``."""

import sys

from . import main

sys.exit(main())
