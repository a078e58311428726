"""COSEM meaning: OBIS codes, units and the layouts of push bodies."""
