"""The fleet path: readers publish readings to an MQTT broker, collectors write them to
PostgreSQL. ``rows`` turns the reading contract into table rows (no I/O), ``store`` writes
batches with COPY, ``collector`` takes them from a shared subscription."""
