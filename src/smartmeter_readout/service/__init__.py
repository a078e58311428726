"""The long-running service: config, the one composition root (build), outputs, outbox, metrics."""
