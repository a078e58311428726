"""The service's HTTP side: /metrics for Prometheus (the web page and REST API follow)."""
