"""``python -m smartmeter_readout``: the same as the ``smartmeter-readout`` command."""

import sys

from .cli.main import main

sys.exit(main())
