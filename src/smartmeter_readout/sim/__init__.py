"""No meter at hand: the simulator (the decoder run backwards), faults, a virtual meter on a
pseudo-terminal, and made-up history for the demo."""
