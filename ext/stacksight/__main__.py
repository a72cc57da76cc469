"""``python -m stacksight ...`` is the ``stacksight`` command."""
import sys

from stacksight.cli import main

sys.exit(main())
