"""Keep reading a meter: the live reader (reconnects, detection, state), detect, doctor."""
