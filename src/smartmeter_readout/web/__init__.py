"""The service's HTTP side: the page, the REST API under /api/v1, the live feed, /metrics."""
