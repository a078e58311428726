"""The ``smartmeter-readout`` command: the parser in ``main``, one module per command family."""
