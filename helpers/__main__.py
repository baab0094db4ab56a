"""``python -m netconform``: the ``netconform`` command."""

import sys

from netconform.cli import main

sys.exit(main())
